//! One connection's events, routed to the owners of the channels they are about.
//!
//! aicall runs every campaign, every call and the agents over one ESL connection. Whoever
//! owns a channel — the task that originated it with its own `origination_uuid`, or the
//! outbound-socket session a dialplan handed it to — registers the channel's UUID here
//! *before* the channel can exist, and receives exactly that channel's events. Events of
//! channels nobody registered (a loopback call's second leg, an agent leg, a supervisor's
//! eavesdrop leg, other systems' calls) are never routed to a call, whatever variables they
//! carry: they go to [`ChannelRouter::unrouted`] for whoever watches the switch as a whole.
//!
//! The router also keeps the owners honest about channels that end unseen: after a
//! reconnect (FreeSWITCH restarted, or the connection dropped) and on a periodic sweep of
//! `show channels`, an owner whose channel is no longer on the switch gets
//! [`Routed::Gone`], so no call waits forever for a hangup event that was lost.
//!
//! Depends on [`super::client`] only.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::client::{ClientEvent, EslClient, EventStream};
use super::event::Event;

/// Events of channels nobody owns, kept for slow watchers before the oldest are dropped.
const UNROUTED_QUEUE: usize = 4096;
/// A registered channel not yet seen in any event is left alone this long by a
/// reconciliation: its originate may still be on its way.
const GRACE: Duration = Duration::from_secs(5);

/// What a channel's owner receives.
#[derive(Debug)]
pub enum Routed {
    /// An event about the channel.
    Event(Event),
    /// The channel is no longer on the switch and its hangup event was not seen (lost in a
    /// reconnect or a switch restart).
    Gone,
    /// The connection to the switch dropped; commands fail until [`Routed::LinkUp`].
    LinkDown,
    LinkUp,
}

struct Route {
    tx: mpsc::UnboundedSender<Routed>,
    registered: Instant,
    seen: bool,
}

struct Inner {
    routes: Mutex<HashMap<String, Route>>,
    unrouted: broadcast::Sender<Arc<Event>>,
    link: watch::Sender<bool>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Poisoned only after a panic elsewhere; the map of senders is still consistent.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    fn dispatch(&self, ev: Event) {
        let uuid = ev.unique_id().map(str::to_owned);
        if let Some(uuid) = uuid {
            let mut routes = lock(&self.routes);
            if let Some(route) = routes.get_mut(&uuid) {
                route.seen = true;
                let last = ev.name() == "CHANNEL_DESTROY";
                if route.tx.send(Routed::Event(ev)).is_err() || last {
                    // The owner is gone, or the channel is: nothing more to route.
                    routes.remove(&uuid);
                }
                return;
            }
        }
        let _ = self.unrouted.send(Arc::new(ev));
    }

    /// Owners whose channel is not in `live` (and was seen, or is past its grace) get
    /// [`Routed::Gone`] and are forgotten.
    fn reconcile(&self, live: &HashSet<String>, now: Instant) -> usize {
        let mut routes = lock(&self.routes);
        let gone: Vec<String> = routes
            .iter()
            .filter(|(uuid, r)| {
                !live.contains(*uuid) && (r.seen || now.duration_since(r.registered) >= GRACE)
            })
            .map(|(uuid, _)| uuid.clone())
            .collect();
        for uuid in &gone {
            if let Some(r) = routes.remove(uuid) {
                warn!(%uuid, "channel ended without a hangup event we saw");
                let _ = r.tx.send(Routed::Gone);
            }
        }
        gone.len()
    }

    fn broadcast(&self, what: fn() -> Routed) {
        let routes = lock(&self.routes);
        for r in routes.values() {
            let _ = r.tx.send(what());
        }
    }
}

/// Routes one client's events by channel UUID. Cheap to clone.
#[derive(Clone)]
pub struct ChannelRouter {
    client: EslClient,
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ChannelRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelRouter")
            .field("routes", &lock(&self.inner.routes).len())
            .finish()
    }
}

/// A channel's events; dropping it stops the routing.
#[derive(Debug)]
pub struct ChannelEvents {
    uuid: String,
    rx: mpsc::UnboundedReceiver<Routed>,
    inner: Weak<Inner>,
}

impl ChannelEvents {
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// The next event about the channel; `None` once routing has stopped (after
    /// CHANNEL_DESTROY, [`Routed::Gone`], or when the router is shut down).
    pub async fn recv(&mut self) -> Option<Routed> {
        self.rx.recv().await
    }
}

impl Drop for ChannelEvents {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            lock(&inner.routes).remove(&self.uuid);
        }
    }
}

impl ChannelRouter {
    /// Starts routing `events` (the stream of `client`); every `sweep` the switch's channel
    /// list is checked for channels that ended unseen. Subscribe the client to the events
    /// the owners need; the router adds nothing.
    pub fn start(client: EslClient, mut events: EventStream, sweep: Duration) -> Self {
        let (unrouted, _) = broadcast::channel(UNROUTED_QUEUE);
        let inner = Arc::new(Inner {
            routes: Mutex::new(HashMap::new()),
            unrouted,
            link: watch::Sender::new(client.is_connected()),
        });
        let router = Self {
            client: client.clone(),
            inner: inner.clone(),
        };
        let weak = Arc::downgrade(&inner);
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                let Some(inner) = weak.upgrade() else { return };
                match ev {
                    ClientEvent::Event(ev) => inner.dispatch(ev),
                    ClientEvent::Disconnected { reason } => {
                        warn!(%reason, "lost the switch; calls in flight are reconciled on reconnect");
                        inner.link.send_replace(false);
                        inner.broadcast(|| Routed::LinkDown);
                    }
                    ClientEvent::Reconnected { channels } => {
                        let live: HashSet<String> = channels.into_iter().map(|c| c.uuid).collect();
                        let gone = inner.reconcile(&live, Instant::now());
                        info!(live = live.len(), gone, "switch back; channels reconciled");
                        inner.link.send_replace(true);
                        inner.broadcast(|| Routed::LinkUp);
                    }
                }
            }
            debug!("channel router: event stream closed");
            if let Some(inner) = weak.upgrade() {
                inner.link.send_replace(false);
                // Owners learn that nothing more will come.
                lock(&inner.routes).clear();
            }
        });
        let weak = Arc::downgrade(&inner);
        let sweeper = client.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(sweep);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                if lock(&inner.routes).is_empty() {
                    continue;
                }
                // Not connected: the reconnect reconciles instead.
                if let Ok(chans) = sweeper.channels().await {
                    let live: HashSet<String> = chans.into_iter().map(|c| c.uuid).collect();
                    inner.reconcile(&live, Instant::now());
                }
            }
        });
        router
    }

    /// The client commands go through.
    pub fn client(&self) -> &EslClient {
        &self.client
    }

    /// Routes the events of channel `uuid` to the returned receiver until it is dropped.
    /// Register before the channel can exist (before its originate is sent).
    pub fn register(&self, uuid: &str) -> ChannelEvents {
        let (tx, rx) = mpsc::unbounded_channel();
        lock(&self.inner.routes).insert(
            uuid.to_owned(),
            Route {
                tx,
                registered: Instant::now(),
                seen: false,
            },
        );
        ChannelEvents {
            uuid: uuid.to_owned(),
            rx,
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// Events of channels nobody registered (and CUSTOM events), for watchers of the whole
    /// switch. A watcher that falls more than a few thousand events behind loses the oldest.
    pub fn unrouted(&self) -> broadcast::Receiver<Arc<Event>> {
        self.inner.unrouted.subscribe()
    }

    /// Whether the switch is connected, as it changes.
    pub fn link(&self) -> watch::Receiver<bool> {
        self.inner.link.subscribe()
    }

    /// Channels registered now.
    pub fn routes(&self) -> usize {
        lock(&self.inner.routes).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inner() -> Arc<Inner> {
        let (unrouted, _) = broadcast::channel(16);
        Arc::new(Inner {
            routes: Mutex::new(HashMap::new()),
            unrouted,
            link: watch::Sender::new(true),
        })
    }

    fn event(name: &str, uuid: &str) -> Event {
        let mut e = Event::new(name);
        e.headers.push("Unique-ID", uuid);
        e
    }

    fn route(inner: &Arc<Inner>, uuid: &str, age: Duration) -> mpsc::UnboundedReceiver<Routed> {
        let (tx, rx) = mpsc::unbounded_channel();
        let registered = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
        lock(&inner.routes).insert(
            uuid.into(),
            Route {
                tx,
                registered,
                seen: false,
            },
        );
        rx
    }

    #[tokio::test]
    async fn owned_channels_get_their_events_and_others_go_unrouted() {
        let inner = inner();
        let mut a = route(&inner, "a", Duration::ZERO);
        let mut watcher = inner.unrouted.subscribe();
        inner.dispatch(event("CHANNEL_ANSWER", "a"));
        // A loopback B leg carrying the same variables is nobody's channel.
        let mut b_leg = event("CHANNEL_PARK", "b");
        b_leg.headers.push("variable_aicall_campaign", "spring");
        inner.dispatch(b_leg);
        assert!(matches!(a.try_recv(), Ok(Routed::Event(e)) if e.name() == "CHANNEL_ANSWER"));
        assert!(
            a.try_recv().is_err(),
            "the B leg's park is not routed to A's owner"
        );
        assert_eq!(watcher.try_recv().expect("unrouted").unique_id(), Some("b"));
        // DESTROY is the last event: the route goes away with it.
        inner.dispatch(event("CHANNEL_DESTROY", "a"));
        assert!(matches!(a.try_recv(), Ok(Routed::Event(_))));
        assert!(lock(&inner.routes).is_empty());
    }

    #[tokio::test]
    async fn reconciliation_ends_seen_and_old_routes_only() {
        let inner = inner();
        let mut seen = route(&inner, "seen", Duration::ZERO);
        let mut fresh = route(&inner, "fresh", Duration::ZERO);
        let mut old = route(&inner, "old", GRACE * 2);
        let mut live = route(&inner, "live", GRACE * 2);
        inner.dispatch(event("CHANNEL_CREATE", "seen"));
        let _ = seen.try_recv();
        let on_switch: HashSet<String> = ["live".to_string()].into();
        assert_eq!(inner.reconcile(&on_switch, Instant::now()), 2);
        assert!(matches!(seen.try_recv(), Ok(Routed::Gone)));
        assert!(matches!(old.try_recv(), Ok(Routed::Gone)));
        assert!(
            fresh.try_recv().is_err(),
            "its originate may still be on its way"
        );
        assert!(live.try_recv().is_err());
        assert_eq!(lock(&inner.routes).len(), 2);
    }
}
