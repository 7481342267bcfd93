//! The erasure ledger (issue 5): every destroyed key and deleted object,
//! appended outside the database and signed with the audit key, so a restore
//! from an older backup can replay it and nothing erased comes back readable.
//! (Being written.)
