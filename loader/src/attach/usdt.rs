//! USDT.
/// x
#[derive(Debug)]
pub struct UsdtArg {}
/// x
#[derive(Debug)]
pub enum UsdtArgKind {}
/// x
#[derive(Debug)]
pub struct UsdtNote {}
/// x
#[derive(Debug)]
pub struct UsdtOptions {}
/// x
pub fn parse_usdt_notes() {}
#[derive(Debug)]
pub(crate) struct SpecSlots {}
