//! The sandbox's integration tests, in one binary: the hardening layers checked from inside and
//! outside (`hardening`), stdio suites (`stdio`), and verdicts of correct and deliberately broken
//! programs (`verdicts`). Their fixtures live in `support`.

mod attacks;
mod compiled;
mod hardening;
mod stdio;
mod support;
mod trace;
mod values;
mod verdicts;
