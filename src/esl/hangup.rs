//! FreeSWITCH hangup causes (Q.850 codes plus FreeSWITCH's own 5xx–8xx causes). What a dialer
//! makes of each is `campaign::retry::disposition_of`.

macro_rules! hangup_causes {
    ($($variant:ident = $code:literal, $name:literal;)*) => {
        /// A FreeSWITCH hangup cause, as named in `Hangup-Cause` and in `-ERR <CAUSE>`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum HangupCause {
            $($variant,)*
            /// A cause this table does not know; the code is 0.
            Unknown,
        }

        impl HangupCause {
            /// Every known cause, in code order.
            pub const ALL: &'static [HangupCause] = &[$(HangupCause::$variant,)*];

            /// The FreeSWITCH name, e.g. `USER_BUSY`.
            pub fn name(self) -> &'static str {
                match self { $(HangupCause::$variant => $name,)* HangupCause::Unknown => "UNKNOWN" }
            }

            /// The numeric code (Q.850 where one exists).
            pub fn code(self) -> u16 {
                match self { $(HangupCause::$variant => $code,)* HangupCause::Unknown => 0 }
            }

            /// Parses a cause name; unknown names map to [`HangupCause::Unknown`].
            pub fn from_name(name: &str) -> Self {
                let name = name.trim();
                $(if name.eq_ignore_ascii_case($name) { return HangupCause::$variant; })*
                HangupCause::Unknown
            }

            /// Looks a cause up by its numeric code.
            pub fn from_code(code: u16) -> Self {
                match code { $($code => HangupCause::$variant,)* _ => HangupCause::Unknown }
            }
        }
    };
}

hangup_causes! {
    Unspecified = 0, "UNSPECIFIED";
    UnallocatedNumber = 1, "UNALLOCATED_NUMBER";
    NoRouteTransitNet = 2, "NO_ROUTE_TRANSIT_NET";
    NoRouteDestination = 3, "NO_ROUTE_DESTINATION";
    ChannelUnacceptable = 6, "CHANNEL_UNACCEPTABLE";
    CallAwardedDelivered = 7, "CALL_AWARDED_DELIVERED";
    NormalClearing = 16, "NORMAL_CLEARING";
    UserBusy = 17, "USER_BUSY";
    NoUserResponse = 18, "NO_USER_RESPONSE";
    NoAnswer = 19, "NO_ANSWER";
    SubscriberAbsent = 20, "SUBSCRIBER_ABSENT";
    CallRejected = 21, "CALL_REJECTED";
    NumberChanged = 22, "NUMBER_CHANGED";
    RedirectionToNewDestination = 23, "REDIRECTION_TO_NEW_DESTINATION";
    ExchangeRoutingError = 25, "EXCHANGE_ROUTING_ERROR";
    DestinationOutOfOrder = 27, "DESTINATION_OUT_OF_ORDER";
    InvalidNumberFormat = 28, "INVALID_NUMBER_FORMAT";
    FacilityRejected = 29, "FACILITY_REJECTED";
    ResponseToStatusEnquiry = 30, "RESPONSE_TO_STATUS_ENQUIRY";
    NormalUnspecified = 31, "NORMAL_UNSPECIFIED";
    NormalCircuitCongestion = 34, "NORMAL_CIRCUIT_CONGESTION";
    NetworkOutOfOrder = 38, "NETWORK_OUT_OF_ORDER";
    NormalTemporaryFailure = 41, "NORMAL_TEMPORARY_FAILURE";
    SwitchCongestion = 42, "SWITCH_CONGESTION";
    AccessInfoDiscarded = 43, "ACCESS_INFO_DISCARDED";
    RequestedChanUnavail = 44, "REQUESTED_CHAN_UNAVAIL";
    PreEmpted = 45, "PRE_EMPTED";
    FacilityNotSubscribed = 50, "FACILITY_NOT_SUBSCRIBED";
    OutgoingCallBarred = 52, "OUTGOING_CALL_BARRED";
    IncomingCallBarred = 54, "INCOMING_CALL_BARRED";
    BearercapabilityNotauth = 57, "BEARERCAPABILITY_NOTAUTH";
    BearercapabilityNotavail = 58, "BEARERCAPABILITY_NOTAVAIL";
    ServiceUnavailable = 63, "SERVICE_UNAVAILABLE";
    BearercapabilityNotimpl = 65, "BEARERCAPABILITY_NOTIMPL";
    ChanNotImplemented = 66, "CHAN_NOT_IMPLEMENTED";
    FacilityNotImplemented = 69, "FACILITY_NOT_IMPLEMENTED";
    ServiceNotImplemented = 79, "SERVICE_NOT_IMPLEMENTED";
    InvalidCallReference = 81, "INVALID_CALL_REFERENCE";
    IncompatibleDestination = 88, "INCOMPATIBLE_DESTINATION";
    InvalidMsgUnspecified = 95, "INVALID_MSG_UNSPECIFIED";
    MandatoryIeMissing = 96, "MANDATORY_IE_MISSING";
    MessageTypeNonexist = 97, "MESSAGE_TYPE_NONEXIST";
    WrongMessage = 98, "WRONG_MESSAGE";
    IeNonexist = 99, "IE_NONEXIST";
    InvalidIeContents = 100, "INVALID_IE_CONTENTS";
    WrongCallState = 101, "WRONG_CALL_STATE";
    RecoveryOnTimerExpire = 102, "RECOVERY_ON_TIMER_EXPIRE";
    MandatoryIeLengthError = 103, "MANDATORY_IE_LENGTH_ERROR";
    ProtocolError = 111, "PROTOCOL_ERROR";
    Interworking = 127, "INTERWORKING";
    Success = 142, "SUCCESS";
    OriginatorCancel = 487, "ORIGINATOR_CANCEL";
    Crash = 700, "CRASH";
    SystemShutdown = 701, "SYSTEM_SHUTDOWN";
    LoseRace = 702, "LOSE_RACE";
    ManagerRequest = 703, "MANAGER_REQUEST";
    BlindTransfer = 800, "BLIND_TRANSFER";
    AttendedTransfer = 801, "ATTENDED_TRANSFER";
    AllottedTimeout = 802, "ALLOTTED_TIMEOUT";
    UserChallenge = 803, "USER_CHALLENGE";
    MediaTimeout = 804, "MEDIA_TIMEOUT";
    PickedOff = 805, "PICKED_OFF";
    UserNotRegistered = 806, "USER_NOT_REGISTERED";
    ProgressTimeout = 807, "PROGRESS_TIMEOUT";
    InvalidGateway = 808, "INVALID_GATEWAY";
    GatewayDown = 809, "GATEWAY_DOWN";
    InvalidUrl = 810, "INVALID_URL";
    InvalidProfile = 811, "INVALID_PROFILE";
    NoPickup = 812, "NO_PICKUP";
    SrtpReadError = 813, "SRTP_READ_ERROR";
}

impl std::fmt::Display for HangupCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_round_trip() {
        for &cause in HangupCause::ALL {
            assert_eq!(HangupCause::from_name(cause.name()), cause);
            assert_eq!(HangupCause::from_code(cause.code()), cause);
        }
        assert_eq!(HangupCause::from_name("user_busy"), HangupCause::UserBusy);
        assert_eq!(HangupCause::from_name("NOT_A_CAUSE"), HangupCause::Unknown);
    }
}
