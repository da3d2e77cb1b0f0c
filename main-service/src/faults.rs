//! Fault injection for tests: named points on the rent path after the charge where a test can make
//! the next pass fail, to check that a charge never stands without its rental. Without the
//! `fault-injection` feature, [`Faults::check`] always passes and compiles to nothing.

/// Where a fault can be injected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// Signing the download token, after the charge.
    SignToken,
    /// Recording the completed purchase in the store, after the charge.
    RecordPurchase,
}

/// A failure a test asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("injected fault at {0:?}")]
pub struct InjectedFault(pub FaultPoint);

/// The faults armed by a test.
#[derive(Debug, Default)]
pub struct Faults {
    #[cfg(feature = "fault-injection")]
    armed: std::sync::Mutex<Vec<FaultPoint>>,
}

impl Faults {
    /// Fails if a test armed `point`, disarming it (one fault per arming).
    pub fn check(&self, point: FaultPoint) -> Result<(), InjectedFault> {
        #[cfg(feature = "fault-injection")]
        {
            let mut armed = self.armed.lock().expect("not poisoned");
            if let Some(i) = armed.iter().position(|p| *p == point) {
                armed.remove(i);
                return Err(InjectedFault(point));
            }
        }
        let _ = point;
        Ok(())
    }

    /// Makes the next pass through `point` fail.
    #[cfg(feature = "fault-injection")]
    pub fn fail_next(&self, point: FaultPoint) {
        self.armed.lock().expect("not poisoned").push(point);
    }
}
