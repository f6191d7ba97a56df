//! An output written by a thread of its own ([`ThreadWriter`]), so that the threads computing
//! the output never wait on the file system.
//!
//! Why: with several shards, `flowvigil features` writes its merged rows under the merger's
//! lock. A `write` of 64 KiB usually takes tens of microseconds, but on some file systems it
//! now and then blocks for milliseconds (page allocation, the journal, discarding the blocks
//! of a truncated file); measured on the peer benchmark's two-thread run, the other thread
//! then slept 4-16 ms a run waiting for that lock. Here the lock covers only a copy into a
//! buffer; the system calls, and the truncation of an existing file, happen on the writing
//! thread, which sleeps, not computes, while the file system blocks.
//!
//! It is the write-side counterpart of the reader's gzip `ChannelReader`
//! (`flowlog::reader`): chunks through a bounded channel, emptied buffers sent back for reuse.

use std::fs::File;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::JoinHandle;

/// Bytes gathered before they go to the writing thread.
const CHUNK: usize = 1 << 16;

/// Chunks queued for the writing thread before a write waits: with the chunk being filled,
/// the one being written and the emptied ones coming back, at most `QUEUED + 3` chunks
/// (≈ 2.2 MiB) exist. Enough to ride out a write blocked for tens of milliseconds (seen once
/// in a few runs with 4 chunks: the other thread then waited 34 ms).
const QUEUED: usize = 32;

/// What the writing thread is asked to do.
enum Job {
    /// Write these bytes (the emptied buffer comes back for reuse).
    Bytes(Vec<u8>),
    /// Flush the output and answer with the result (and any earlier write error).
    Flush,
}

/// Where a [`ThreadWriter`] writes.
pub enum Target {
    /// A file opened without truncation: truncated first, on the writing thread, when it is a
    /// regular file.
    Truncate(File),
    /// Any writer, as it is.
    Plain(Box<dyn Write + Send>),
}

/// A [`Write`] that hands its bytes, in chunks of 64 KiB, to a thread that writes them to the
/// target in order. Bounded: a write waits when 32 chunks (2 MiB) are queued. A write error on the
/// thread is kept and returned by the next [`Write::flush`] (and every later one); the bytes
/// after it are dropped. Dropping the writer writes what it holds and joins the thread, but
/// can report no error: call `flush` first.
pub struct ThreadWriter {
    buf: Vec<u8>,
    to: Option<SyncSender<Job>>,
    /// Emptied buffers coming back.
    spare: Receiver<Vec<u8>>,
    /// Answers to [`Job::Flush`].
    flushed: Receiver<io::Result<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ThreadWriter {
    /// Starts the writing thread for `target`.
    pub fn spawn(target: Target) -> io::Result<Self> {
        let (to, jobs) = mpsc::sync_channel::<Job>(QUEUED);
        let (give_back, spare) = mpsc::channel::<Vec<u8>>();
        let (answer, flushed) = mpsc::channel::<io::Result<()>>();
        let thread = std::thread::Builder::new()
            .name("flowvigil-out".into())
            .spawn(move || {
                let mut error: Option<io::Error> = None;
                let mut out: Box<dyn Write> = match target {
                    Target::Plain(w) => w,
                    Target::Truncate(f) => {
                        // Only a regular file: a device or a pipe has no length to set (as
                        // `O_TRUNC` ignores them).
                        let regular = f.metadata().map(|m| m.is_file());
                        if let Err(e) = regular.and_then(|r| if r { f.set_len(0) } else { Ok(()) })
                        {
                            error = Some(e);
                        }
                        Box::new(f)
                    }
                };
                for job in jobs {
                    match job {
                        Job::Bytes(mut b) => {
                            if error.is_none() {
                                if let Err(e) = out.write_all(&b) {
                                    error = Some(e);
                                }
                            }
                            b.clear();
                            // The writer may be gone already (dropped): nothing to give back.
                            let _ = give_back.send(b);
                        }
                        Job::Flush => {
                            let r = match &error {
                                Some(e) => Err(io::Error::new(e.kind(), e.to_string())),
                                None => out.flush(),
                            };
                            let _ = answer.send(r);
                        }
                    }
                }
            })?;
        Ok(Self {
            buf: Vec::with_capacity(CHUNK),
            to: Some(to),
            spare,
            flushed,
            thread: Some(thread),
        })
    }

    /// Sends the gathered bytes to the writing thread.
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(CHUNK));
        let full = std::mem::replace(&mut self.buf, next);
        self.job(Job::Bytes(full))
    }

    fn job(&self, job: Job) -> io::Result<()> {
        match &self.to {
            Some(to) => to.send(job).map_err(|_| gone()),
            None => Err(gone()),
        }
    }
}

/// The writing thread stopped (it panicked).
fn gone() -> io::Error {
    io::Error::other("the output thread stopped")
}

impl Write for ThreadWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(bytes.len())
    }

    /// Writes everything so far and flushes the target; returns the first write error of the
    /// thread, if any.
    fn flush(&mut self) -> io::Result<()> {
        self.send()?;
        self.job(Job::Flush)?;
        self.flushed.recv().map_err(|_| gone())?
    }
}

impl Drop for ThreadWriter {
    fn drop(&mut self) {
        let _ = self.send();
        // Closing the queue ends the thread once it has written everything.
        drop(self.to.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::sync::{Arc, Mutex};

    /// A writer whose bytes the test reads afterwards; it fails once `fail_after` bytes are
    /// written, when set.
    #[derive(Clone, Default)]
    struct Shared {
        bytes: Arc<Mutex<Vec<u8>>>,
        fail_after: Option<usize>,
        flushes: Arc<Mutex<usize>>,
    }

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let mut v = self
                .bytes
                .lock()
                .map_err(|_| io::Error::other("poisoned"))?;
            if self.fail_after.is_some_and(|n| v.len() + b.len() > n) {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
            }
            v.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            *self
                .flushes
                .lock()
                .map_err(|_| io::Error::other("poisoned"))? += 1;
            Ok(())
        }
    }

    fn pieces(sizes: &[usize]) -> Vec<Vec<u8>> {
        sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| (0..n).map(|j| (i * 31 + j) as u8).collect())
            .collect()
    }

    proptest! {
        /// Whatever the sizes of the writes (around and across the chunk size), the target
        /// gets every byte, in order, and a flush reaches the target.
        #[test]
        fn writes_every_byte_in_order(sizes in proptest::collection::vec(0usize..150_000, 0..12)) {
            let target = Shared::default();
            let mut w = ThreadWriter::spawn(Target::Plain(Box::new(target.clone()))).unwrap();
            let parts = pieces(&sizes);
            for p in &parts {
                w.write_all(p).unwrap();
            }
            w.flush().unwrap();
            let want: Vec<u8> = parts.concat();
            prop_assert_eq!(&*target.bytes.lock().unwrap(), &want);
            prop_assert_eq!(*target.flushes.lock().unwrap(), 1);
            // Dropping without a flush writes the rest too.
            w.write_all(b"tail").unwrap();
            drop(w);
            prop_assert!(target.bytes.lock().unwrap().ends_with(b"tail"));
        }
    }

    #[test]
    fn a_write_error_comes_back_at_flush() {
        let target = Shared {
            fail_after: Some(100_000),
            ..Shared::default()
        };
        let mut w = ThreadWriter::spawn(Target::Plain(Box::new(target.clone()))).unwrap();
        for _ in 0..10 {
            w.write_all(&[7u8; 50_000]).unwrap();
        }
        let e = w.flush().unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        // It stays: a later flush reports it too, and nothing after it was written.
        assert!(w.flush().is_err());
        assert!(target.bytes.lock().unwrap().len() <= 100_000);
    }

    /// A device (or a pipe) is not truncated: `set_len` would fail there.
    #[cfg(unix)]
    #[test]
    fn a_device_is_written_without_truncation() {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .unwrap();
        let mut w = ThreadWriter::spawn(Target::Truncate(f)).unwrap();
        w.write_all(&[1u8; 200_000]).unwrap();
        assert!(w.flush().is_ok());
    }

    #[test]
    fn a_file_is_truncated_on_the_thread_before_the_first_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        std::fs::write(&path, vec![b'x'; 300_000]).unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        let mut w = ThreadWriter::spawn(Target::Truncate(f)).unwrap();
        w.write_all(b"a,b\n1,2\n").unwrap();
        w.flush().unwrap();
        drop(w);
        assert_eq!(std::fs::read(&path).unwrap(), b"a,b\n1,2\n");
    }
}
