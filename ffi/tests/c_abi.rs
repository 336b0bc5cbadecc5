//! The C ABI driven from Rust, the way a C program uses it: two nodes on
//! loopback, an echo handler written as `extern "C"` callbacks, a stream
//! read through callbacks, and the free-time guarantees. The full C suite is
//! ffi/tests/c/test_lp2p.c (under AddressSanitizer); this keeps
//! `cargo test` covering the same path without a C compiler.

use std::ffi::{CStr, CString, c_char, c_void};
use std::ptr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use lp2p::*;

#[derive(Default)]
struct Collected {
    data: Vec<u8>,
    end: Option<lp2p_status>,
    finalized: u32,
    written: u32,
}

type Shared = Arc<(Mutex<Collected>, Condvar)>;

unsafe extern "C" fn on_data(userdata: *mut c_void, data: *const u8, len: usize) {
    // SAFETY: userdata is a live `Shared` for the test's duration; data has len bytes.
    let shared = unsafe { &*(userdata as *const (Mutex<Collected>, Condvar)) };
    let bytes = unsafe { std::slice::from_raw_parts(data, len) };
    shared.0.lock().unwrap_or_else(|e| e.into_inner()).data.extend_from_slice(bytes);
    shared.1.notify_all();
}

unsafe extern "C" fn on_end(userdata: *mut c_void, status: lp2p_status) {
    // SAFETY: as above.
    let shared = unsafe { &*(userdata as *const (Mutex<Collected>, Condvar)) };
    shared.0.lock().unwrap_or_else(|e| e.into_inner()).end = Some(status);
    shared.1.notify_all();
}

unsafe extern "C" fn on_finalize(userdata: *mut c_void) {
    // SAFETY: as above.
    let shared = unsafe { &*(userdata as *const (Mutex<Collected>, Condvar)) };
    shared.0.lock().unwrap_or_else(|e| e.into_inner()).finalized += 1;
    shared.1.notify_all();
}

unsafe extern "C" fn on_written(userdata: *mut c_void, status: lp2p_status) {
    // SAFETY: as above.
    let shared = unsafe { &*(userdata as *const (Mutex<Collected>, Condvar)) };
    assert_eq!(status, lp2p_status::Ok);
    shared.0.lock().unwrap_or_else(|e| e.into_inner()).written += 1;
    shared.1.notify_all();
}

unsafe extern "C" fn echo_data(userdata: *mut c_void, data: *const u8, len: usize) {
    // SAFETY: userdata is the stream the handler received; data has len bytes.
    unsafe { lp2p_stream_write(userdata.cast(), data, len, None, ptr::null_mut()) };
}

unsafe extern "C" fn echo_end(userdata: *mut c_void, status: lp2p_status) {
    let stream: *mut lp2p_stream = userdata.cast();
    // SAFETY: the handler owns the stream; freeing it inside its own callback is allowed.
    unsafe {
        if status == lp2p_status::Ok {
            lp2p_stream_close_write(stream, None, ptr::null_mut());
        }
        lp2p_stream_free(stream);
    }
}

unsafe extern "C" fn echo_handler(_userdata: *mut c_void, stream: *mut lp2p_stream) {
    // SAFETY: we own `stream` from here.
    unsafe { lp2p_stream_start_reading(stream, Some(echo_data), Some(echo_end), stream.cast(), None) };
}

unsafe extern "C" fn count_finalizer(userdata: *mut c_void) {
    // SAFETY: userdata is a live AtomicU32 for the test's duration.
    let n = unsafe { &*(userdata as *const std::sync::atomic::AtomicU32) };
    n.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

fn wait(shared: &Shared, done: impl Fn(&Collected) -> bool) -> bool {
    let (lock, cv) = &**shared;
    let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
    let (guard, _) =
        cv.wait_timeout_while(guard, Duration::from_secs(20), |c| !done(c)).unwrap_or_else(|e| e.into_inner());
    done(&guard)
}

fn start(listen: bool) -> *mut lp2p_node {
    let mut config = ptr::null_mut();
    let mut node = ptr::null_mut();
    // SAFETY: every pointer passed is valid; outputs are written on success.
    unsafe {
        assert_eq!(lp2p_config_new(&mut config), lp2p_status::Ok);
        if listen {
            assert_eq!(lp2p_config_add_listen_addr(config, c"/ip4/127.0.0.1/tcp/0".as_ptr()), lp2p_status::Ok);
        }
        assert_eq!(lp2p_node_start(config, &mut node), lp2p_status::Ok);
        lp2p_config_free(config);
    }
    node
}

#[test]
fn echo_through_the_c_abi() {
    let server = start(true);
    let client = start(false);
    let handler_finalized = std::sync::atomic::AtomicU32::new(0);
    let shared: Shared = Arc::default();
    let ud = Arc::as_ptr(&shared) as *mut c_void;
    // SAFETY: the pointers come from lp2p or point to live test data.
    unsafe {
        let protocol = c"/echo/1.0.0";
        assert_eq!(
            lp2p_node_set_stream_handler(
                server,
                protocol.as_ptr(),
                Some(echo_handler),
                &handler_finalized as *const _ as *mut c_void,
                Some(count_finalizer),
            ),
            lp2p_status::Ok
        );
        let mut addrs = ptr::null_mut();
        assert_eq!(lp2p_node_listen_addrs(server, &mut addrs), lp2p_status::Ok);
        let addr = lp2p_string_list_get(addrs, 0);
        assert!(!addr.is_null());
        let mut peer: *mut c_char = ptr::null_mut();
        assert_eq!(lp2p_node_dial(client, addr, &mut peer), lp2p_status::Ok);
        lp2p_string_list_free(addrs);
        assert_eq!(CStr::from_ptr(peer), CStr::from_ptr(lp2p_node_peer_id(server)));

        let mut stream = ptr::null_mut();
        assert_eq!(lp2p_node_new_stream(client, peer, protocol.as_ptr(), &mut stream), lp2p_status::Ok);
        assert_eq!(
            lp2p_stream_start_reading(stream, Some(on_data), Some(on_end), ud, Some(on_finalize)),
            lp2p_status::Ok
        );
        let message: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        for chunk in message.chunks(30_000) {
            assert_eq!(lp2p_stream_write(stream, chunk.as_ptr(), chunk.len(), Some(on_written), ud), lp2p_status::Ok);
        }
        assert_eq!(lp2p_stream_close_write(stream, None, ptr::null_mut()), lp2p_status::Ok);
        assert_eq!(lp2p_stream_close_write(stream, None, ptr::null_mut()), lp2p_status::StreamClosed);
        assert!(wait(&shared, |c| c.end.is_some() && c.finalized == 1 && c.written == 10));
        {
            let got = shared.0.lock().unwrap_or_else(|e| e.into_inner());
            assert_eq!(got.end, Some(lp2p_status::Ok));
            assert!(got.data == message, "echoed {} of {} bytes", got.data.len(), message.len());
        }
        lp2p_stream_free(stream);

        let mut rtt = 0u64;
        assert_eq!(lp2p_node_ping(client, peer, &mut rtt), lp2p_status::Ok);
        lp2p_string_free(peer);

        lp2p_node_free(client);
        lp2p_node_free(server);
    }
    assert_eq!(handler_finalized.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert_eq!(shared.0.lock().unwrap_or_else(|e| e.into_inner()).finalized, 1);
}

#[test]
fn errors_come_back_as_statuses_with_messages() {
    let node = start(false);
    let mut buf = [0 as c_char; 256];
    // SAFETY: valid pointers or deliberate NULLs, which lp2p must refuse.
    unsafe {
        let mut peer: *mut c_char = ptr::null_mut();
        assert_eq!(lp2p_node_dial(node, c"not a multiaddr".as_ptr(), &mut peer), lp2p_status::InvalidMultiaddr);
        assert!(peer.is_null());
        assert_eq!(lp2p_last_error_message(buf.as_mut_ptr(), buf.len(), ptr::null_mut()), lp2p_status::Ok);
        assert!(CStr::from_ptr(buf.as_ptr()).to_string_lossy().contains("multiaddr"));
        assert_eq!(lp2p_node_dial(ptr::null(), c"/ip4/127.0.0.1/tcp/1".as_ptr(), &mut peer), lp2p_status::NullArgument);
        let bad = CString::new("/ip4/127.0.0.1/tcp/1").unwrap_or_default();
        assert_eq!(lp2p_node_dial(node, bad.as_ptr(), &mut peer), lp2p_status::DialFailed);
        let mut stream = ptr::null_mut();
        assert_eq!(
            lp2p_node_new_stream(node, c"garbage".as_ptr(), c"/echo/1.0.0".as_ptr(), &mut stream),
            lp2p_status::InvalidPeerId
        );
        lp2p_node_free(node);
        lp2p_node_free(ptr::null_mut());
        lp2p_stream_free(ptr::null_mut());
    }
}

/// Inbound streams parked unread by `park_handler`, as addresses.
static PARKED: Mutex<Vec<usize>> = Mutex::new(Vec::new());
/// The tags of the write completions, in the order they ran.
static COMPLETED: Mutex<Vec<usize>> = Mutex::new(Vec::new());

unsafe extern "C" fn park_handler(_userdata: *mut c_void, stream: *mut lp2p_stream) {
    PARKED.lock().unwrap_or_else(|e| e.into_inner()).push(stream as usize);
}

unsafe extern "C" fn discard_data(_userdata: *mut c_void, _data: *const u8, _len: usize) {}

unsafe extern "C" fn record_completion(userdata: *mut c_void, status: lp2p_status) {
    assert_eq!(status, lp2p_status::Ok);
    COMPLETED.lock().unwrap_or_else(|e| e.into_inner()).push(userdata as usize);
}

/// A remote that does not read fills the muxer's window; the client's queue
/// then grows until `lp2p_stream_write` says WOULD_BLOCK, and
/// `lp2p_stream_queued_bytes` shows the queue. Once the remote reads, every
/// write completes, in the order the writes were accepted (told apart by the
/// per-write userdata), and the queue is empty.
#[test]
fn queued_bytes_and_completion_order_under_back_pressure() {
    let server = start(true);
    let client = start(false);
    let chunk = vec![7u8; 256 * 1024];
    // SAFETY: the pointers come from lp2p or point to live test data.
    unsafe {
        let protocol = c"/sink/1.0.0";
        assert_eq!(
            lp2p_node_set_stream_handler(server, protocol.as_ptr(), Some(park_handler), ptr::null_mut(), None),
            lp2p_status::Ok
        );
        let mut addrs = ptr::null_mut();
        assert_eq!(lp2p_node_listen_addrs(server, &mut addrs), lp2p_status::Ok);
        let mut peer: *mut c_char = ptr::null_mut();
        assert_eq!(lp2p_node_dial(client, lp2p_string_list_get(addrs, 0), &mut peer), lp2p_status::Ok);
        lp2p_string_list_free(addrs);
        let mut stream = ptr::null_mut();
        assert_eq!(lp2p_node_new_stream(client, peer, protocol.as_ptr(), &mut stream), lp2p_status::Ok);
        lp2p_string_free(peer);

        let mut queued = usize::MAX;
        assert_eq!(lp2p_stream_queued_bytes(stream, &mut queued), lp2p_status::Ok);
        assert_eq!(queued, 0);
        assert_eq!(lp2p_stream_queued_bytes(ptr::null(), &mut queued), lp2p_status::NullArgument);
        assert_eq!(lp2p_stream_queued_bytes(stream, ptr::null_mut()), lp2p_status::NullArgument);

        // Far more than any window and socket buffer: the queue must fill.
        let mut accepted = 0usize;
        let mut blocked = false;
        while accepted < 1024 {
            let tag = accepted as *mut c_void;
            match lp2p_stream_write(stream, chunk.as_ptr(), chunk.len(), Some(record_completion), tag) {
                lp2p_status::Ok => accepted += 1,
                lp2p_status::WouldBlock => {
                    blocked = true;
                    break;
                }
                other => panic!("write failed: {other:?}"),
            }
        }
        assert!(blocked, "no WOULD_BLOCK after {accepted} writes of {} bytes", chunk.len());
        assert_eq!(lp2p_stream_queued_bytes(stream, &mut queued), lp2p_status::Ok);
        assert!(queued > 0 && queued <= LP2P_STREAM_MAX_QUEUED_BYTES, "queued {queued}");
        assert!(COMPLETED.lock().unwrap_or_else(|e| e.into_inner()).len() < accepted);

        // The remote reads: everything drains.
        let parked = PARKED.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert_eq!(parked.len(), 1);
        let inbound = parked[0] as *mut lp2p_stream;
        assert_eq!(
            lp2p_stream_start_reading(inbound, Some(discard_data), None, ptr::null_mut(), None),
            lp2p_status::Ok
        );
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while COMPLETED.lock().unwrap_or_else(|e| e.into_inner()).len() < accepted {
            assert!(std::time::Instant::now() < deadline, "writes did not complete");
            std::thread::sleep(Duration::from_millis(10));
        }
        let order = COMPLETED.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert_eq!(order, (0..accepted).collect::<Vec<_>>());
        assert_eq!(lp2p_stream_queued_bytes(stream, &mut queued), lp2p_status::Ok);
        assert_eq!(queued, 0);

        lp2p_node_free(client);
        assert_eq!(lp2p_stream_queued_bytes(stream, &mut queued), lp2p_status::Shutdown);
        lp2p_stream_free(stream);
        lp2p_stream_free(inbound);
        lp2p_node_free(server);
    }
}
