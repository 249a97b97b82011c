//! DIMSE command sets (group 0000, always Implicit VR Little Endian): reading a request,
//! writing C-ECHO / C-STORE requests and responses, and the status codes we use.
//!
//! Command sets are flat lists of short elements, so they are read and written here directly
//! rather than through a general data-set parser: a malformed one is a protocol error.

use std::collections::BTreeMap;

pub const C_STORE_RQ: u16 = 0x0001;
pub const C_STORE_RSP: u16 = 0x8001;
pub const C_ECHO_RQ: u16 = 0x0030;
pub const C_ECHO_RSP: u16 = 0x8030;

/// CommandDataSetType value meaning "no data set follows".
pub const NO_DATA_SET: u16 = 0x0101;
/// Any other CommandDataSetType value means a data set follows; this is the usual one.
pub const DATA_SET_PRESENT: u16 = 0x0000;

/// Element numbers (group 0000) of the command attributes used here.
pub mod el {
    pub const GROUP_LENGTH: u16 = 0x0000;
    pub const AFFECTED_SOP_CLASS_UID: u16 = 0x0002;
    pub const COMMAND_FIELD: u16 = 0x0100;
    pub const MESSAGE_ID: u16 = 0x0110;
    pub const MESSAGE_ID_BEING_RESPONDED_TO: u16 = 0x0120;
    pub const PRIORITY: u16 = 0x0700;
    pub const COMMAND_DATA_SET_TYPE: u16 = 0x0800;
    pub const STATUS: u16 = 0x0900;
    pub const ERROR_COMMENT: u16 = 0x0902;
    pub const AFFECTED_SOP_INSTANCE_UID: u16 = 0x1000;
}

/// DIMSE status codes the node sends (PS3.4 annex B, PS3.7 annex C).
pub mod status {
    pub const SUCCESS: u16 = 0x0000;
    /// SOP class not supported (also used when the command's SOP class does not match the
    /// presentation context it came on).
    pub const REFUSED_SOP_CLASS_NOT_SUPPORTED: u16 = 0x0122;
    pub const UNRECOGNIZED_OPERATION: u16 = 0x0211;
    /// Refused: out of resources (disk full, below the free-space floor, instance too large).
    pub const OUT_OF_RESOURCES: u16 = 0xA700;
    /// Error: cannot understand (the data set does not parse).
    pub const CANNOT_UNDERSTAND: u16 = 0xC000;
    /// Error: a UID needed to file the instance is missing or not a valid UID.
    pub const INVALID_UID: u16 = 0xC001;
    /// Error: the data set's SOP Instance UID differs from the command's.
    pub const INSTANCE_MISMATCH: u16 = 0xC002;
}

/// How a peer's response status should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusClass {
    Success,
    Warning,
    /// Refused for lack of resources: worth retrying later.
    OutOfResources,
    Failure,
}

pub fn classify(status: u16) -> StatusClass {
    match status {
        0x0000 => StatusClass::Success,
        0x0001 | 0x0107 | 0x0116 | 0xB000..=0xBFFF => StatusClass::Warning,
        0xA700..=0xA7FF => StatusClass::OutOfResources,
        _ => StatusClass::Failure,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("command set truncated at byte {0}")]
    Truncated(usize),
    #[error("command set holds element ({0:04X},{1:04X}) outside group 0000")]
    NotCommandGroup(u16, u16),
    #[error("command set lacks {0}")]
    Missing(&'static str),
    #[error("command attribute {0} has a wrong length")]
    BadValue(&'static str),
}

/// A command set: element number -> raw value bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Command {
    elements: BTreeMap<u16, Vec<u8>>,
}

impl Command {
    /// Reads an Implicit VR Little Endian command set.
    pub fn parse(bytes: &[u8]) -> Result<Self, CommandError> {
        let mut elements = BTreeMap::new();
        let mut at = 0usize;
        while at < bytes.len() {
            let head = bytes.get(at..at + 8).ok_or(CommandError::Truncated(at))?;
            let group = u16::from_le_bytes([head[0], head[1]]);
            let element = u16::from_le_bytes([head[2], head[3]]);
            let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
            if group != 0 {
                return Err(CommandError::NotCommandGroup(group, element));
            }
            let start = at + 8;
            let value = start
                .checked_add(len)
                .and_then(|end| bytes.get(start..end))
                .ok_or(CommandError::Truncated(at))?;
            elements.insert(element, value.to_vec());
            at = start + len;
        }
        Ok(Command { elements })
    }

    /// Writes the command set, group length first.
    pub fn encode(&self) -> Vec<u8> {
        let body: usize = self
            .elements
            .iter()
            .filter(|(&e, _)| e != el::GROUP_LENGTH)
            .map(|(_, v)| 8 + v.len())
            .sum();
        let mut out = Vec::with_capacity(12 + body);
        put_element(&mut out, el::GROUP_LENGTH, &(body as u32).to_le_bytes());
        for (&e, v) in &self.elements {
            if e != el::GROUP_LENGTH {
                put_element(&mut out, e, v);
            }
        }
        out
    }

    pub fn with_u16(mut self, element: u16, value: u16) -> Self {
        self.elements.insert(element, value.to_le_bytes().to_vec());
        self
    }

    /// UI value: padded with NUL to an even length.
    pub fn with_uid(mut self, element: u16, uid: &str) -> Self {
        let mut v = uid.as_bytes().to_vec();
        if v.len() % 2 == 1 {
            v.push(0);
        }
        self.elements.insert(element, v);
        self
    }

    /// Text value (LO, AE): padded with a space to an even length.
    pub fn with_text(mut self, element: u16, text: &str) -> Self {
        let mut v = text.as_bytes().to_vec();
        if v.len() % 2 == 1 {
            v.push(b' ');
        }
        self.elements.insert(element, v);
        self
    }

    pub fn u16(&self, element: u16, name: &'static str) -> Result<u16, CommandError> {
        let v = self
            .elements
            .get(&element)
            .ok_or(CommandError::Missing(name))?;
        match v.as_slice() {
            [a, b] => Ok(u16::from_le_bytes([*a, *b])),
            _ => Err(CommandError::BadValue(name)),
        }
    }

    /// A text or UID value without its padding.
    pub fn text(&self, element: u16, name: &'static str) -> Result<String, CommandError> {
        let v = self
            .elements
            .get(&element)
            .ok_or(CommandError::Missing(name))?;
        Ok(String::from_utf8_lossy(v)
            .trim_end_matches(['\0', ' '])
            .to_owned())
    }

    pub fn command_field(&self) -> Result<u16, CommandError> {
        self.u16(el::COMMAND_FIELD, "CommandField")
    }

    pub fn message_id(&self) -> Result<u16, CommandError> {
        self.u16(el::MESSAGE_ID, "MessageID")
    }

    pub fn has_data_set(&self) -> Result<bool, CommandError> {
        Ok(self.u16(el::COMMAND_DATA_SET_TYPE, "CommandDataSetType")? != NO_DATA_SET)
    }
}

fn put_element(out: &mut Vec<u8>, element: u16, value: &[u8]) {
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&element.to_le_bytes());
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value);
}

/// The response to a request: same SOP class (and instance), status, optional comment.
pub fn response(
    request: &Command,
    field: u16,
    message_id: u16,
    status: u16,
    comment: Option<&str>,
) -> Command {
    let mut rsp = Command::default()
        .with_u16(el::COMMAND_FIELD, field)
        .with_u16(el::MESSAGE_ID_BEING_RESPONDED_TO, message_id)
        .with_u16(el::COMMAND_DATA_SET_TYPE, NO_DATA_SET)
        .with_u16(el::STATUS, status);
    for e in [el::AFFECTED_SOP_CLASS_UID, el::AFFECTED_SOP_INSTANCE_UID] {
        if let Some(v) = request.elements.get(&e) {
            rsp.elements.insert(e, v.clone());
        }
    }
    if let Some(c) = comment {
        // ErrorComment is LO: at most 64 characters.
        let c: String = c
            .chars()
            .filter(|c| c.is_ascii() && *c != '\\')
            .take(64)
            .collect();
        rsp = rsp.with_text(el::ERROR_COMMENT, &c);
    }
    rsp
}

pub fn c_echo_rq(message_id: u16, sop_class: &str) -> Command {
    Command::default()
        .with_uid(el::AFFECTED_SOP_CLASS_UID, sop_class)
        .with_u16(el::COMMAND_FIELD, C_ECHO_RQ)
        .with_u16(el::MESSAGE_ID, message_id)
        .with_u16(el::COMMAND_DATA_SET_TYPE, NO_DATA_SET)
}

pub fn c_store_rq(message_id: u16, sop_class: &str, sop_instance: &str) -> Command {
    Command::default()
        .with_uid(el::AFFECTED_SOP_CLASS_UID, sop_class)
        .with_u16(el::COMMAND_FIELD, C_STORE_RQ)
        .with_u16(el::MESSAGE_ID, message_id)
        .with_u16(el::PRIORITY, 0)
        .with_u16(el::COMMAND_DATA_SET_TYPE, DATA_SET_PRESENT)
        .with_uid(el::AFFECTED_SOP_INSTANCE_UID, sop_instance)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_request_survives_encoding_and_parsing() {
        let rq = c_store_rq(7, "1.2.840.10008.5.1.4.1.1.2", "1.2.3");
        let bytes = rq.encode();
        let back = Command::parse(&bytes).unwrap();
        assert_eq!(back.command_field().unwrap(), C_STORE_RQ);
        assert_eq!(back.message_id().unwrap(), 7);
        assert!(back.has_data_set().unwrap());
        assert_eq!(
            back.text(el::AFFECTED_SOP_INSTANCE_UID, "uid").unwrap(),
            "1.2.3"
        );
        let group_length = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        assert_eq!(group_length, bytes.len() - 12);
    }

    #[test]
    fn malformed_command_sets_are_errors_not_panics() {
        assert_eq!(Command::parse(&[0, 0, 0]), Err(CommandError::Truncated(0)));
        let mut bytes = c_echo_rq(1, VERIFICATION_FOR_TEST).encode();
        bytes.truncate(bytes.len() - 1);
        assert!(Command::parse(&bytes).is_err());
        let huge = [0, 0, 0x10, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(Command::parse(&huge).is_err());
        let other_group = [8, 0, 0x16, 0, 0, 0, 0, 0];
        assert_eq!(
            Command::parse(&other_group),
            Err(CommandError::NotCommandGroup(8, 0x16))
        );
    }

    const VERIFICATION_FOR_TEST: &str = "1.2.840.10008.1.1";

    #[test]
    fn statuses_are_classified_for_retry_decisions() {
        assert_eq!(classify(0), StatusClass::Success);
        assert_eq!(classify(0xB007), StatusClass::Warning);
        assert_eq!(classify(0xA700), StatusClass::OutOfResources);
        assert_eq!(classify(0xC000), StatusClass::Failure);
        assert_eq!(classify(0x0122), StatusClass::Failure);
    }
}
