// 4-qubit quantum Fourier transform (a gate definition) of the basis state |0101>
// (q[0] = 1, q[2] = 1), the textbook decomposition with controlled phases and final swaps.
OPENQASM 2.0;
include "qelib1.inc";
gate qft4 a,b,c,d {
  h d;
  cu1(pi/2) c,d;
  cu1(pi/4) b,d;
  cu1(pi/8) a,d;
  h c;
  cu1(pi/2) b,c;
  cu1(pi/4) a,c;
  h b;
  cu1(pi/2) a,b;
  h a;
  swap a,d;
  swap b,c;
}
qreg q[4];
x q[0];
x q[2];
qft4 q[0],q[1],q[2],q[3];
