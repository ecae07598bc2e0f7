//! The simulator's own log, in FreeSWITCH's console format, for connections that asked for
//! `log <level>`: a subset of what the real switch logs about a call — a new channel, the
//! dialplan hunt, each application, answers, the originate's result, hangups and closes —
//! with FreeSWITCH's own texts, levels, files, functions and line numbers (as recorded in
//! `data/esl-traces/fs-cli-session.txt`), so a console shows what an operator expects.

use super::Switch;
use crate::esl::server::LogLine;

/// Where a line goes in fs_cli: 0 and 3 are full console lines, 1 a session's own line.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Text {
    /// `SWITCH_CHANNEL_ID_LOG` (0).
    Log,
    /// `SWITCH_CHANNEL_ID_SESSION` (1): the body is the text alone.
    Session,
    /// `SWITCH_CHANNEL_ID_EVENT`-style console line (3).
    Console,
}

/// FreeSWITCH's log levels.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Level {
    Notice = 5,
    Info = 6,
    Debug = 7,
}

impl Level {
    fn name(self) -> &'static str {
        match self {
            Level::Notice => "NOTICE",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
        }
    }
}

/// Where in FreeSWITCH a line comes from.
pub(crate) struct Site {
    pub file: &'static str,
    pub func: &'static str,
    pub line: u32,
}

macro_rules! site {
    ($file:literal, $func:literal, $line:literal) => {
        Site {
            file: $file,
            func: $func,
            line: $line,
        }
    };
}

pub(crate) const PARSING_GLOBALS: Site =
    site!("switch_ivr_originate.c", "switch_ivr_originate", 2301);
pub(crate) const NEW_CHANNEL: Site = site!("switch_channel.c", "switch_channel_set_name", 1142);
pub(crate) const RENAME_CHANNEL: Site = site!("switch_channel.c", "switch_channel_set_name", 1140);
pub(crate) const SET_UUID: Site = site!(
    "switch_core_session.c",
    "switch_core_session_outgoing_channel",
    641
);
pub(crate) const PROCESSING: Site = site!("mod_dialplan_xml.c", "dialplan_hunt", 639);
pub(crate) const EXECUTE: Site = site!("switch_core_session.c", "switch_core_session_exec", 2902);
pub(crate) const LOOPBACK_ANSWERED: Site = site!("mod_loopback.c", "channel_receive_message", 1021);
pub(crate) const ANSWERED: Site = site!("mod_dptools.c", "answer_function", 1406);
pub(crate) const ORIGINATE_SUCCESS: Site =
    site!("switch_ivr_originate.c", "switch_ivr_originate", 3913);
pub(crate) const FLIP_CID: Site = site!("switch_channel.c", "switch_channel_flip_cid", 3289);
pub(crate) const KILL: Site = site!("switch_ivr.c", "switch_ivr_kill_uuid", 4412);
pub(crate) const LOOPBACK_HANGUP: Site = site!("mod_loopback.c", "channel_on_hangup", 585);
pub(crate) const CLOSE_CHANNEL: Site =
    site!("switch_core_session.c", "switch_core_session_thread", 1766);

impl Switch {
    /// Logs a line (formatted only when some connection listens at `level`).
    pub(crate) fn log_line(
        &self,
        level: Level,
        text: Text,
        site: Site,
        uuid: &str,
        message: impl FnOnce() -> String,
    ) {
        let lvl = level as u8;
        if !self.hub.wants_log(lvl) {
            return;
        }
        let message = message();
        let body = match text {
            Text::Session => format!("{message}\n"),
            Text::Log | Text::Console => {
                let stamp = chrono::Local::now().format("%Y-%m-%d %H:%M:%S%.6f");
                format!(
                    "{stamp} 99.00% [{}] {}:{} {message}\n",
                    level.name(),
                    site.file,
                    site.line
                )
            }
        };
        self.hub.log(LogLine {
            level: lvl,
            text_channel: match text {
                Text::Log => 0,
                Text::Session => 1,
                Text::Console => 3,
            },
            file: site.file.to_owned(),
            func: site.func.to_owned(),
            line: site.line,
            user_data: uuid.to_owned(),
            body,
        });
    }
}
