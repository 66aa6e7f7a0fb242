//! The worker's record of online intervals on the shared-memory path (see src/intervals.rs).
//!
//! Heartbeats there write nothing, so only the worker can see a device go stale or come back.
//! Each tick it looks at every slot beside its count: a slot whose device is live and whose
//! spell the worker has not recorded opens one, at the spell's start (kept in the slot by the
//! beat or commit that began it); a recorded spell whose device is no longer live closes, at
//! its last heartbeat plus the active window (stale) or at its stop; a spell that began since
//! the worker last looked (the device went silent and came back within a tick) closes the old
//! one where it ended first. So intervals are exact whatever the tick's timing. Registrations
//! and stops reach the slots at commit and are seen the same way; a deleted row's spell is
//! closed by its delete (the row is gone by then).
//!
//! What the worker believes is recorded is applied only once the transaction that recorded it
//! has committed; a failed one is tried again from the same beliefs at the next tick. After a
//! rebuild the beliefs are read again from the table's open spells.

use crate::intervals::{self, Ended};
use crate::shared_memory::slots::{Shared, SlotState, SlotView};
use crate::shared_memory::worker::{in_transaction, Outcome};
use crate::spi::catalog;
use pgrx::prelude::*;

/// What the worker believes the table holds for a slot's device.
#[derive(Clone, Copy, Default)]
struct Belief {
    /// The start of its open spell, if it has one.
    open_since: Option<i64>,
    /// The slot's spell start when the worker last acted on it: a different one is a new spell.
    seen_spell: i64,
}

/// A spell that ended, by slot.
struct Close {
    slot: u32,
    at: i64,
    reason: Ended,
}

/// A spell that began, by slot, and its end if it is already over.
struct Open {
    slot: u32,
    at: i64,
    ended: Option<(i64, Ended)>,
}

#[derive(Default)]
pub(crate) struct Spells {
    beliefs: Vec<Belief>,
    closes: Vec<Close>,
    opens: Vec<Open>,
    /// Beliefs to take once this tick's writes commit.
    next: Vec<(u32, Belief)>,
    /// Whether the database recorded spells when the beliefs were read: once it is updated to
    /// 0.7.0, they are read again (the update opened the spells of the devices then active).
    recording: bool,
}

impl Spells {
    /// Forgets everything (the slots were cleared): `load` reads the table's open spells again.
    pub fn reset(&mut self) {
        *self = Spells::default();
    }

    /// After a rebuild: the open spells the table holds, and each slot's spell as it is now
    /// (so the rebuild's own writes are not taken for new spells).
    pub fn load(&mut self, shared: &Shared) {
        self.reset();
        for slot in 0..shared.high_water() {
            if let Some(view) = shared.read(slot) {
                self.belief_mut(slot).seen_spell = view.spell_start;
            }
        }
        let open = in_transaction(|client, _| {
            if !intervals::recorded() {
                return Ok(None);
            }
            let statement = catalog::statement(intervals::OPEN_SPELLS);
            client
                .select(&*statement, None, &[])?
                .map(|row| Ok((row.get::<i32>(1)?, row.get::<TimestampWithTimeZone>(2)?)))
                .collect::<spi::Result<Vec<_>>>()
                .map(Some)
        });
        // Unread (the warning is logged), every live slot opens a spell at the next tick, and
        // the table keeps the one it has (ON CONFLICT): no spell is lost or doubled.
        let open = match open {
            Outcome::Done(None) | Outcome::ExtensionMissing => return,
            Outcome::Done(Some(open)) => open,
            Outcome::Failed => Vec::new(),
        };
        self.recording = true;
        for (slot, since) in open {
            if let (Some(slot), Some(since)) = (slot.and_then(|s| u32::try_from(s).ok()), since) {
                self.belief_mut(slot).open_since = Some(since.into_inner());
            }
        }
    }

    fn belief_mut(&mut self, slot: u32) -> &mut Belief {
        let index = slot as usize;
        if self.beliefs.len() <= index {
            self.beliefs.resize(index + 1, Belief::default());
        }
        &mut self.beliefs[index]
    }

    /// One slot as this tick's count sees it (`live`: registered and beating within the window
    /// of `window` microseconds).
    pub fn observe(&mut self, slot: u32, view: &SlotView, live: bool, window: i64) {
        let belief = self.beliefs.get(slot as usize).copied().unwrap_or_default();
        if matches!(view.state, SlotState::Empty | SlotState::Deleted) {
            // The row is gone: its delete closed the spell.
            if belief.open_since.is_some() {
                let forgotten = Belief {
                    open_since: None,
                    seen_spell: view.spell_start,
                };
                self.next.push((slot, forgotten));
            }
            return;
        }
        let new_spell = view.spell_start != belief.seen_spell
            && view.spell_start > belief.open_since.unwrap_or(i64::MIN);
        // Where the device's latest spell ended, if it has: silent for a window, or stopped.
        let stale_at = view.last_beat.saturating_add(window);
        let ended = match view.state {
            SlotState::Stopped if view.spell_end > 0 && view.spell_end < stale_at => {
                (view.spell_end, Ended::Stopped)
            }
            _ => (stale_at, Ended::Stale),
        };
        let mut changed = false;
        if let Some(since) = belief.open_since {
            if new_spell {
                let at = view.spell_end.clamp(since, view.spell_start);
                self.closes.push(Close {
                    slot,
                    at,
                    reason: Ended::Stale,
                });
                changed = true;
            } else if !live {
                self.closes.push(Close {
                    slot,
                    at: ended.0.max(since),
                    reason: ended.1,
                });
                changed = true;
            }
        }
        let begins = new_spell || (belief.open_since.is_none() && live);
        let start = if view.spell_start > 0 {
            view.spell_start
        } else {
            view.last_beat
        };
        let mut open_since = belief.open_since.filter(|_| !changed);
        if begins && (live || new_spell) && start > 0 {
            self.opens.push(Open {
                slot,
                at: start,
                ended: (!live).then_some(ended),
            });
            open_since = live.then_some(start);
            changed = true;
        }
        if changed || view.spell_start != belief.seen_spell {
            self.next.push((
                slot,
                Belief {
                    open_since,
                    seen_spell: view.spell_start,
                },
            ));
        }
    }

    /// Writes this tick's spells in one transaction; on commit, the worker believes them.
    pub fn record(&mut self, shared: &Shared) {
        let (closes, opens) = (
            std::mem::take(&mut self.closes),
            std::mem::take(&mut self.opens),
        );
        let next = std::mem::take(&mut self.next);
        if !self.recording {
            // Until the database is updated to 0.7.0 nothing is recorded; once it is, the
            // beliefs are read from the table (the update opened the active devices' spells).
            let updated = in_transaction(|_, _| Ok(intervals::recorded()));
            if matches!(updated, Outcome::Done(true)) {
                self.load(shared);
            } else {
                self.believe(next);
            }
            return;
        }
        if closes.is_empty() && opens.is_empty() {
            self.believe(next);
            return;
        }
        let written = in_transaction(move |client, _| {
            if !closes.is_empty() {
                let slots: Vec<i32> = closes.iter().map(|c| c.slot as i32).collect();
                let ends: Vec<Option<TimestampWithTimeZone>> =
                    closes.iter().map(|c| timestamp(c.at)).collect();
                let reasons: Vec<&str> = closes.iter().map(|c| c.reason.sql_name()).collect();
                let statement = catalog::statement(intervals::CLOSE_BY_SLOT);
                client.update(
                    &*statement,
                    None,
                    &[slots.into(), ends.into(), reasons.into()],
                )?;
            }
            if !opens.is_empty() {
                let slots: Vec<i32> = opens.iter().map(|o| o.slot as i32).collect();
                let starts: Vec<Option<TimestampWithTimeZone>> =
                    opens.iter().map(|o| timestamp(o.at)).collect();
                let ends: Vec<Option<TimestampWithTimeZone>> = opens
                    .iter()
                    .map(|o| o.ended.and_then(|(at, _)| timestamp(at)))
                    .collect();
                let reasons: Vec<Option<&str>> = opens
                    .iter()
                    .map(|o| o.ended.map(|(_, reason)| reason.sql_name()))
                    .collect();
                let statement = catalog::statement(intervals::OPEN_BY_SLOT);
                client.update(
                    &*statement,
                    None,
                    &[slots.into(), starts.into(), ends.into(), reasons.into()],
                )?;
            }
            Ok(())
        });
        if matches!(written, Outcome::Done(())) {
            self.believe(next);
        }
    }

    fn believe(&mut self, next: Vec<(u32, Belief)>) {
        for (slot, belief) in next {
            *self.belief_mut(slot) = belief;
        }
    }
}

fn timestamp(at: i64) -> Option<TimestampWithTimeZone> {
    TimestampWithTimeZone::try_from(at).ok()
}
