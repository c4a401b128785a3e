//! `lua/control_sale.lua`: the operator pauses, resumes or re-rates a sale's admission.

use herdgate_core::wire::ControlRequest;
use herdgate_core::SaleId;

use super::{text, SaleKeys, Store, StoreError};

pub(super) const LUA: &str = include_str!("../../../lua/control_sale.lua");

/// One call of `lua/control_sale.lua`.
#[derive(Debug, Clone, Copy)]
pub struct ControlSaleCall<'a> {
    /// The sale (its key).
    pub sale: &'a SaleId,
    /// `ARGV[1..2]`: the change.
    pub request: &'a ControlRequest,
    /// `ARGV[4]`: the events channel.
    pub channel: &'a str,
    /// `ARGV[5]`: now, unix ms.
    pub now_ms: u64,
}

impl ControlSaleCall<'_> {
    /// The script's `KEYS` and `ARGV`, in its order.
    pub fn keys_and_args(&self) -> (Vec<String>, Vec<String>) {
        let (action, rate) = self.request.action();
        (
            vec![SaleKeys::new(self.sale).sale],
            vec![
                action.to_owned(),
                rate.to_string(),
                self.sale.to_string(),
                self.channel.to_owned(),
                self.now_ms.to_string(),
            ],
        )
    }
}

/// What `lua/control_sale.lua` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlSaleReply {
    /// `ok`: the settings are as asked.
    Done,
    /// `unknown_sale`: nothing changed.
    UnknownSale,
}

impl Store {
    /// Pauses, resumes or re-rates a sale (see `lua/control_sale.lua`).
    pub async fn control_sale(
        &self,
        call: &ControlSaleCall<'_>,
    ) -> Result<ControlSaleReply, StoreError> {
        let (keys, args) = call.keys_and_args();
        let reply = self.evalsha(&self.scripts.control_sale, keys, args).await?;
        match text(&reply, 0)?.as_str() {
            "ok" => Ok(ControlSaleReply::Done),
            "unknown_sale" => Ok(ControlSaleReply::UnknownSale),
            other => Err(StoreError::Protocol(format!("control returned {other:?}"))),
        }
    }
}
