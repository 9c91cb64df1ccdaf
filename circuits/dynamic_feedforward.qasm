// Teleportation with feed-forward: ry(0.7)|0> on q[0] is teleported to q[2]; the corrections
// are classically controlled on the two mid-circuit measurements. m0 and m1 are uniform and
// independent of out, which is 1 with probability sin^2(0.35).
OPENQASM 2.0;
include "qelib1.inc";
qreg q[3];
creg m0[1];
creg m1[1];
creg out[1];
ry(0.7) q[0];
h q[1];
cx q[1],q[2];
cx q[0],q[1];
h q[0];
measure q[0] -> m0[0];
measure q[1] -> m1[0];
if(m1==1) x q[2];
if(m0==1) z q[2];
measure q[2] -> out[0];
