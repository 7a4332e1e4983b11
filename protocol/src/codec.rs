//! Length-prefixed, versioned CBOR frames over any `Read`/`Write`.

use serde::{de::DeserializeOwned, Serialize};
use std::io::{self, BufReader, Read, Write};

/// The protocol version this build speaks. Bump only for incompatible changes.
pub const VERSION: u8 = 1;

/// Everything that can go wrong on the wire.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("i/o error on the certd socket: {0}")]
    Io(#[from] io::Error),
    #[error("peer closed the connection before a whole frame arrived")]
    Truncated,
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge { len: u64, max: u32 },
    #[error("empty frame (no version byte)")]
    Empty,
    #[error("peer speaks protocol version {peer}, this side speaks {ours}")]
    Version { peer: u8, ours: u8 },
    #[error("malformed CBOR body: {0}")]
    Decode(String),
    #[error("cannot encode message: {0}")]
    Encode(String),
}

/// Encodes `msg` as one frame (length prefix included), refusing frames over `max` bytes:
/// the sender learns that its peer would refuse the frame before it sends a byte.
pub fn encode_frame<T: Serialize>(msg: &T, max: u32) -> Result<Vec<u8>, CodecError> {
    let mut buf = vec![0u8; 4];
    buf.push(VERSION);
    ciborium::into_writer(msg, &mut buf).map_err(|e| CodecError::Encode(e.to_string()))?;
    let len = (buf.len() - 4) as u64;
    let len = u32::try_from(len)
        .ok()
        .filter(|l| *l <= max)
        .ok_or(CodecError::TooLarge { len, max })?;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf)
}

/// Encodes `msg` as one frame and writes it (a single `write_all`, then flush).
pub fn write_frame<W: Write, T: Serialize>(w: &mut W, msg: &T) -> Result<(), CodecError> {
    let buf = encode_frame(msg, u32::MAX)?;
    w.write_all(&buf)?;
    w.flush()?;
    Ok(())
}

/// Reads one frame, refusing frames over `max` bytes before allocating for them.
///
/// The CBOR body is decoded as it is read, never held whole: a submission's raw message is
/// then in memory once (the decoded value), not twice (the frame and the value).
pub fn read_frame<R: Read, T: DeserializeOwned>(r: &mut R, max: u32) -> Result<T, CodecError> {
    let mut len = [0u8; 4];
    read_exact(r, &mut len)?;
    let len = u32::from_be_bytes(len);
    if len > max {
        return Err(CodecError::TooLarge {
            len: len.into(),
            max,
        });
    }
    if len == 0 {
        return Err(CodecError::Empty);
    }
    let mut version = [0u8; 1];
    read_exact(r, &mut version)?;
    if version[0] != VERSION {
        return Err(CodecError::Version {
            peer: version[0],
            ours: VERSION,
        });
    }
    // Buffered inside the frame's bounds: nothing past the frame is read.
    let mut body = BufReader::with_capacity(READ_BUFFER, r.take(u64::from(len) - 1));
    let value = ciborium::from_reader(&mut body).map_err(|e| match e {
        // The peer closed before the frame's end (the value running past the end of a
        // complete frame is malformed CBOR instead).
        ciborium::de::Error::Io(e)
            if e.kind() == io::ErrorKind::UnexpectedEof && body.get_ref().limit() > 0 =>
        {
            CodecError::Truncated
        }
        ciborium::de::Error::Io(e) if e.kind() != io::ErrorKind::UnexpectedEof => CodecError::Io(e),
        e => CodecError::Decode(e.to_string()),
    })?;
    // Bytes after the value inside the frame are ignored, as they always were; the frame is
    // still read to its end, and a frame cut short is still truncated.
    io::copy(&mut body, &mut io::sink())?;
    if body.get_ref().limit() > 0 {
        return Err(CodecError::Truncated);
    }
    Ok(value)
}

/// Read-ahead inside a frame: one system call per 64 KiB of a large submission.
const READ_BUFFER: usize = 64 * 1024;

fn read_exact<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<(), CodecError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => CodecError::Truncated,
        _ => CodecError::Io(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Request, Response};

    const MAX_FRAME_DEFAULT: u32 = 1 << 26;

    #[test]
    fn round_trip() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &Request::Ping).unwrap();
        let back: Request = read_frame(&mut buf.as_slice(), MAX_FRAME_DEFAULT).unwrap();
        assert_eq!(back, Request::Ping);
    }

    #[test]
    fn length_prefix_counts_version_and_body() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &Response::Pong).unwrap();
        let len = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
        assert_eq!(len, buf.len() - 4);
        assert_eq!(buf[4], VERSION);
    }

    #[test]
    fn encoding_refuses_a_frame_over_the_limit() {
        let big = Request::LookupToken {
            token: "x".repeat(100),
            kind: None,
        };
        assert!(matches!(
            encode_frame(&big, 50),
            Err(CodecError::TooLarge { max: 50, .. })
        ));
        let frame = encode_frame(&big, 200).unwrap();
        let back: Request = read_frame(&mut frame.as_slice(), 200).unwrap();
        assert_eq!(back, big);
    }

    #[test]
    fn oversized_frame_is_refused_before_reading_body() {
        let frame = [0xff, 0xff, 0xff, 0xff];
        let err = read_frame::<_, Request>(&mut frame.as_slice(), 1024).unwrap_err();
        assert!(matches!(err, CodecError::TooLarge { .. }), "{err}");
    }

    #[test]
    fn truncated_frame() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &Request::Ping).unwrap();
        buf.pop();
        let err = read_frame::<_, Request>(&mut buf.as_slice(), 1024).unwrap_err();
        assert!(matches!(err, CodecError::Truncated), "{err}");
        let err = read_frame::<_, Request>(&mut [0u8, 0].as_slice(), 1024).unwrap_err();
        assert!(matches!(err, CodecError::Truncated), "{err}");
    }

    #[test]
    fn wrong_version_is_named() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &Request::Ping).unwrap();
        buf[4] = 9;
        let err = read_frame::<_, Request>(&mut buf.as_slice(), 1024).unwrap_err();
        assert!(
            matches!(err, CodecError::Version { peer: 9, ours: 1 }),
            "{err}"
        );
    }

    #[test]
    fn empty_and_garbage_bodies() {
        let err = read_frame::<_, Request>(&mut [0u8, 0, 0, 0].as_slice(), 1024).unwrap_err();
        assert!(matches!(err, CodecError::Empty), "{err}");
        let garbage = [0u8, 0, 0, 3, VERSION, 0xff, 0x00];
        let err = read_frame::<_, Request>(&mut garbage.as_slice(), 1024).unwrap_err();
        assert!(matches!(err, CodecError::Decode(_)), "{err}");
    }

    #[test]
    fn a_frame_cut_inside_a_large_byte_string_is_truncated() {
        let big = Request::LookupToken {
            token: "t".repeat(200_000),
            kind: None,
        };
        let mut buf = Vec::new();
        write_frame(&mut buf, &big).unwrap();
        let back: Request = read_frame(&mut buf.as_slice(), MAX_FRAME_DEFAULT).unwrap();
        assert_eq!(back, big);
        buf.truncate(150_000);
        let err = read_frame::<_, Request>(&mut buf.as_slice(), MAX_FRAME_DEFAULT).unwrap_err();
        assert!(matches!(err, CodecError::Truncated), "{err}");
    }

    #[test]
    fn a_value_longer_than_its_frame_is_malformed_and_nothing_past_the_frame_is_read() {
        let mut buf = Vec::new();
        write_frame(&mut buf, &Request::Ping).unwrap();
        // Claim one byte less than the frame holds: the value runs past the frame's end.
        buf[3] -= 1;
        let err = read_frame::<_, Request>(&mut buf.as_slice(), 1024).unwrap_err();
        assert!(matches!(err, CodecError::Decode(_)), "{err}");
        // Two frames back to back: each read takes exactly its own, trailing bytes included.
        let mut two = Vec::new();
        write_frame(&mut two, &Request::Ping).unwrap();
        two[3] += 2;
        two.extend_from_slice(b"xx");
        write_frame(&mut two, &Request::Limits).unwrap();
        let mut r = two.as_slice();
        assert_eq!(
            read_frame::<_, Request>(&mut r, 1024).unwrap(),
            Request::Ping
        );
        assert_eq!(
            read_frame::<_, Request>(&mut r, 1024).unwrap(),
            Request::Limits
        );
        assert!(r.is_empty());
    }
}
