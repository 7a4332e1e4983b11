//! The evidence certificate (claims 1 and 3 of the patent): a two-part PDF — part 1 the
//! request, part 2 the response — with the original messages embedded, signed by the operator
//! (PAdES, [`crate::signature`]) and timestamped by a TSA (RFC 3161, [`crate::timestamp`]).

pub mod build;
pub mod evidence_file;
pub mod issue;
pub mod render;
pub mod renew;

pub use issue::{issue, Certifier, IssueError, Issued};

use serde::Serialize;

/// One labelled line of the certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Field {
    pub label: String,
    pub value: String,
}

/// A file embedded in the PDF (the original .eml messages, the evidence file), with its hash
/// printed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Embedded {
    pub name: String,
    pub description: String,
    pub mime_type: String,
    pub bytes: Vec<u8>,
    /// Lower-case hex SHA-256 of `bytes`.
    pub sha256: String,
    pub relationship: Relationship,
}

/// How an embedded file relates to the certificate (PDF/A-3 `/AFRelationship`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Relationship {
    /// The certificate was made from it (the original messages).
    Source,
    /// It is the certificate's content in machine-readable form (the evidence file).
    Data,
}

/// An attachment of the contract, listed with its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AttachmentLine {
    pub filename: String,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
}

/// A dated event of the exchange (delivery, SMS report, answer…).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TimelineEntry {
    /// RFC 3339 UTC.
    pub at: String,
    pub what: String,
}

/// Everything the PDF shows; built from the store, rendered by [`render::render`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateData {
    /// Language of the labels (`en`, `es`, `ja`).
    pub language: String,
    pub title: String,
    pub operator: String,
    pub serial: u64,
    pub contract_id: String,
    /// `accepted`, `rejected`, `not_delivered` or `unanswered`, and its sentence.
    pub outcome: String,
    pub outcome_sentence: String,
    /// Part 1: the request (operator, customer and authentication, destinations, times, ids).
    pub request_fields: Vec<Field>,
    /// The readable contract text, any script.
    pub contract_text: String,
    pub attachments: Vec<AttachmentLine>,
    pub request_timeline: Vec<TimelineEntry>,
    /// Part 2: the response (channel, responder, time, client, Received chain, authentication,
    /// decision) or the NOEX diagnostic / NORESP deadline.
    pub response_fields: Vec<Field>,
    pub response_text: Option<String>,
    /// The original messages, embedded as PDF file attachments.
    pub embedded: Vec<Embedded>,
    /// Hash of the last event of the contract's chain at issue time.
    pub chain_head: String,
    /// RFC 3339 UTC.
    pub issued_at: String,
}
