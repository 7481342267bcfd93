//! Contacts (DESIGN.md REG-1).
