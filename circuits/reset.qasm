// Mid-circuit measurement and reset: a Bell pair is measured on q[0], q[0] is reset and
// re-prepared with ry(1.1); c[0] and c[2] agree (the pair), c[1] is 1 with probability
// sin^2(0.55) independently of them.
OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[3];
h q[0];
cx q[0],q[1];
measure q[0] -> c[0];
reset q[0];
ry(1.1) q[0];
measure q[0] -> c[1];
measure q[1] -> c[2];
