//! Any bytes on certd's socket, read as a request (certd's side) or a response (certmilter's
//! side), must give a value or an error, and a value must survive encoding and decoding again.
#![no_main]

use certmail_protocol::{read_frame, write_frame, CodecError, Request, Response};
use libfuzzer_sys::fuzz_target;
use serde::{de::DeserializeOwned, Serialize};
use std::fmt::Debug;

/// Small, so that a length prefix over it is refused before anything is allocated, and large
/// enough for every frame the fuzzer writes.
const MAX: u32 = 1 << 20;

fn check<T: Serialize + DeserializeOwned + PartialEq + Debug>(bytes: &[u8]) {
    let mut input = bytes;
    let decoded: Result<T, CodecError> = read_frame(&mut input, MAX);
    let Ok(value) = decoded else { return };
    let mut frame = Vec::new();
    write_frame(&mut frame, &value).expect("a decoded value encodes again");
    let back: T = read_frame(&mut frame.as_slice(), u32::MAX).expect("what was written reads back");
    assert_eq!(back, value);
}

fuzz_target!(|bytes: &[u8]| {
    check::<Request>(bytes);
    check::<Response>(bytes);
});
