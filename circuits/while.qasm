// Repeat until success (OpenQASM 3: a while loop, which OpenQASM 2 cannot express; it loads
// through qiskit.qasm3 with the qiskit_qasm3_import package). Each try measures ry(1.0)|0>,
// 1 with probability p = sin^2(0.5); every failed try applies h to q[1]. The loop ends with
// c[0] = 0; q[1] ends in |+> after an odd number of h, so P(c[1] = 1) = p / (2 (1 + p)).
OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
bit[2] c;
ry(1.0) q[0];
c[0] = measure q[0];
while (c[0]) {
  reset q[0];
  ry(1.0) q[0];
  h q[1];
  c[0] = measure q[0];
}
c[1] = measure q[1];
