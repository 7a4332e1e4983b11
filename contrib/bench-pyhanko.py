#!/usr/bin/env python3
"""contrib/bench-pyhanko.py PDF KEY CHAIN TSA_URL SECONDS [TRUST]: the pyHanko baseline of
`contrib/bench`.

Signs PDF (PAdES B-T: ETSI.CAdES.detached plus an RFC 3161 signature timestamp from TSA_URL)
again and again in one warm process for SECONDS, with the same P-256 key and chain that certd
uses (with TRUST, the CA's PEM: PAdES B-LTA, as `pyhanko sign addsig --use-pades-lta
--with-validation-info`: OCSP/CRL fetched from the chain's URLs into the DSS, then a document
timestamp), and prints one JSON object on stdout: documents signed, wall seconds, CPU seconds of this
process, and the median per document. Run it with the pyHanko venv of contrib/deps:

    /opt/certmail-validators/bin/python contrib/bench-pyhanko.py cert.pdf op.key op.pem URL 10
"""

import io
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
import time

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers, timestamps
from pyhanko.sign.fields import SigSeedSubFilter


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    if len(sys.argv) not in (6, 7):
        sys.exit(__doc__)
    pdf_path, key, chain, url, seconds = sys.argv[1:6]
    trust = sys.argv[6] if len(sys.argv) == 7 else None
    seconds = float(seconds)
    data = open(pdf_path, "rb").read()
    # The chain file holds the signer first, then its issuers: pyHanko wants them apart.
    end = "-----END CERTIFICATE-----"
    blocks = [b + end + "\n" for b in open(chain).read().split(end) if "BEGIN" in b]
    tmp = tempfile.mkdtemp(prefix="bench-pyhanko-")
    leaf, rest = os.path.join(tmp, "leaf.pem"), os.path.join(tmp, "issuers.pem")
    open(leaf, "w").write(blocks[0])
    open(rest, "w").write("".join(blocks[1:]))
    signer = signers.SimpleSigner.load(key, leaf, ca_chain_files=(rest,) if blocks[1:] else None)
    shutil.rmtree(tmp)
    if signer is None:
        sys.exit("pyHanko could not load the key or the chain")
    tsa = timestamps.HTTPTimeStamper(url, timeout=10)
    lta = {}
    if trust:
        from pyhanko.keys import load_certs_from_pemder
        from pyhanko_certvalidator import ValidationContext

        roots = list(load_certs_from_pemder([trust]))
        lta = dict(
            use_pades_lta=True,
            embed_validation_info=True,
            validation_context=ValidationContext(trust_roots=roots, allow_fetching=True),
        )
    meta = signers.PdfSignatureMetadata(
        field_name="Signature1",
        md_algorithm="sha256",
        subfilter=SigSeedSubFilter.PADES,
        reason="pyHanko baseline",
        **lta,
    )
    pdf_signer = signers.PdfSigner(meta, signer=signer, timestamper=tsa)

    def sign_once():
        out = io.BytesIO()
        pdf_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(data)), output=out)
        return len(out.getvalue())

    size = sign_once()  # warm-up: imports, key parsing, first TSA connection
    times = []
    cpu0, t0 = cpu_seconds(), time.monotonic()
    while time.monotonic() - t0 < seconds or len(times) < 3:
        s = time.monotonic()
        sign_once()
        times.append(time.monotonic() - s)
    wall, cpu = time.monotonic() - t0, cpu_seconds() - cpu0
    print(
        json.dumps(
            {
                "docs": len(times),
                "wall_s": wall,
                "cpu_s": cpu,
                "median_ms": statistics.median(times) * 1000,
                "input_bytes": len(data),
                "signed_bytes": size,
                "level": "B-LTA" if trust else "B-T",
            }
        )
    )


if __name__ == "__main__":
    main()
