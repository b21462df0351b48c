//! Registers `r0`..`r10`, as plain `u8` numbers.
/// Return value, and scratch.
pub const R0: u8 = 0;
/// First argument (the context on entry), caller-saved.
pub const R1: u8 = 1;
/// Second argument, caller-saved.
pub const R2: u8 = 2;
/// Third argument, caller-saved.
pub const R3: u8 = 3;
/// Fourth argument, caller-saved.
pub const R4: u8 = 4;
/// Fifth argument, caller-saved.
pub const R5: u8 = 5;
/// Callee-saved.
pub const R6: u8 = 6;
/// Callee-saved.
pub const R7: u8 = 7;
/// Callee-saved.
pub const R8: u8 = 8;
/// Callee-saved.
pub const R9: u8 = 9;
/// Read-only frame pointer.
pub const R10: u8 = 10;
/// Highest valid register number.
pub const MAX: u8 = 10;
