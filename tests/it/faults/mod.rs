//! Fault injection (SPEC §5 exit codes, §5.4, §5.5, §6): the real binary killed with
//! SIGKILL at seeded points, its PostgreSQL connections terminated under it, stopped with
//! Ctrl-C, pointed at read-only databases, started twice at once, and run beside live
//! application traffic. After each fault the database must end exactly where an
//! uninterrupted run on an identical copy ends, with no anomaly or journal row twice.
//! Outcomes only: no assertion on how long anything took (bar the latency bound the
//! spec promises application traffic).

mod concurrent;
mod connections;
mod ctrl_c;
mod kill_9;
mod read_only;
mod traffic;
