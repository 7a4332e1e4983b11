//! Tests of `certd verify` on B-T, B-LT and B-LTA files made by pyHanko (fixtures in
//! `certd/tests/fixtures/pades-ltv`, made by its `generate.py`).
