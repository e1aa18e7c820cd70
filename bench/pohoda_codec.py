"""Benchmark of the POHODA codec: encode rate, streamed decode+validate rate, peak memory.

Generates contacts with Czech, Slovak, Polish and Hungarian names, encodes them as import
dataPacks, writes a Windows-1250 export of all of them, then measures in fresh processes
(so that generation does not count): the floor (lxml parse of the whole document plus
etree.XMLSchema validation of the same bytes) and the codec's streamed decode+validate.
The last line is one JSON object.

    python bench/pohoda_codec.py [--records 100000] [--batch 200]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from connector.codec.pohoda import AddressBookWrite, PohodaCodec
from connector.model import Contact

FIRST = ["Jiří", "Žaneta", "Přemysl", "Ľubomír", "Ágota", "Łucja", "Štěpán", "Zoë", "Gyöngyi", "Ďurko", "Małgorzata",
         "Ödön", "Růžena", "Kálmán", "Źdisław", "Ťažký", "Ilona", "Bořivoj", "Żaneta", "Ľudmila"]
LAST = ["Dvořák", "Šťastný", "Kováč", "Szőke", "Wróbel", "Ňuňák", "Nagy", "Łukasiewicz", "Čermák", "Ďurica",
        "Horváth", "Żółkiewski", "Řezníček", "Bíró", "Pšeničková", "Ľupták", "Gál", "Świątek", "Vrána", "Ötvös"]
CITIES = [("Praha", "CZ", "110 00"), ("Brno", "CZ", "602 00"), ("Žilina", "SK", "010 01"), ("Košice", "SK", "040 01"),
          ("Łódź", "PL", "90-001"), ("Kraków", "PL", "30-001"), ("Győr", "HU", "9021"), ("Pécs", "HU", "7621")]
STREETS = ["Dlouhá", "Hlavná", "Piłsudskiego", "Fő utca", "Údolní", "Štúrova", "Żeromskiego", "Petőfi Sándor utca"]


def generate(n: int, seed: int = 7) -> list[Contact]:
    rng = random.Random(seed)
    contacts = []
    for i in range(1, n + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        city, country, zip_code = rng.choice(CITIES)
        street = f"{rng.choice(STREETS)} {rng.randint(1, 200)}"
        ship_to = []
        if i % 3 == 0:
            other, other_country, other_zip = rng.choice(CITIES)
            ship_to.append({"name": f"{first} {last}", "street": f"{rng.choice(STREETS)} {i % 97}", "city": other,
                            "zip": other_zip, "country": other_country, "default": True})
        contacts.append(
            Contact.from_dict(
                {
                    "id": str(i),
                    "ext_id": f"C{i:07d}",
                    "company": f"{last} a spol. s.r.o." if i % 4 == 0 else None,
                    "name": f"{first} {last}",
                    "email": f"zakaznik{i}@example.cz",
                    "phone": f"+420 {rng.randint(200_000_000, 799_999_999)}",
                    "street": street,
                    "city": city,
                    "zip": zip_code,
                    "country": country,
                    "ico": f"{rng.randint(10_000_000, 99_999_999)}" if i % 4 == 0 else None,
                    "ship_to": ship_to,
                    "groups": ["E-shop"] + (["VIP"] if i % 10 == 0 else []),
                    "gdpr": [{"purpose": "Newsletter", "date_from": "2024-01-01"}] if i % 2 else [],
                }
            )
        )
    return contacts


# Peak memory of the measuring process itself: VmHWM, which starts afresh at exec, unlike
# ru_maxrss, which a child inherits from this (larger) process on Linux.
PEAK = """
def peak_mb():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

FLOOR = PEAK + """
import sys, time
from lxml import etree
path, xsd = sys.argv[1], sys.argv[2]
schema = etree.XMLSchema(etree.parse(xsd))
with open(path, "rb") as f:
    data = f.read()
start = time.perf_counter()
doc = etree.fromstring(data, etree.XMLParser(huge_tree=True))
ok = schema.validate(doc)
seconds = time.perf_counter() - start
assert ok, schema.error_log
print(seconds, peak_mb())
"""

DECODE = PEAK + """
import sys, time
from connector.codec.pohoda import PohodaCodec
path = sys.argv[1]
codec = PohodaCodec("12345678", "eshop", "bench", max_export_bytes=1 << 31)
start = time.perf_counter()
count = 0
with open(path, "rb") as f:
    for _contact in codec.iter_export(f):
        count += 1
seconds = time.perf_counter() - start
print(seconds, peak_mb(), count)
"""


def run(code: str, *args: str) -> list[float]:
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return [float(x) for x in done.stdout.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5, help="decode and floor runs; the best of each counts")
    args = parser.parse_args()
    codec = PohodaCodec("12345678", "eshop", "bench")

    start = time.perf_counter()
    contacts = generate(args.records)
    print(f"generated {len(contacts):,} contacts in {time.perf_counter() - start:.1f} s")

    start = time.perf_counter()
    sent = 0
    for i in range(0, len(contacts), args.batch):
        encoded = codec.encode_import(AddressBookWrite.upsert(c, version=1) for c in contacts[i : i + args.batch])
        sent += encoded.item_count
    encode_s = time.perf_counter() - start
    assert sent == len(contacts)
    encode_rps = sent / encode_s
    print(f"encode: {sent:,} items in {encode_s:.2f} s = {encode_rps:,.0f} records/s (batches of {args.batch})")

    from connector._paths import schemas_dir

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "export.xml"
        with path.open("wb") as out:
            codec.write_export(contacts, out)
        size_mb = path.stat().st_size / 1024 / 1024
        print(f"export: {len(contacts):,} records, {size_mb:.1f} MB, Windows-1250")
        del contacts

        xsd = str(schemas_dir() / "pohoda" / "response.xsd")
        # Floor and decode runs alternate, so that both meet the machine in the same moods.
        floors, decodes = [], []
        for i in range(args.repeat):
            floors.append(run(FLOOR, str(path), xsd))
            decodes.append(run(DECODE, str(path)))
            print(f"  run {i + 1}: floor {floors[-1][0]:.2f} s, decode {decodes[-1][0]:.2f} s")
    floor_s, floor_rss = min(f[0] for f in floors), min(f[1] for f in floors)
    decode_s = min(d[0] for d in decodes)
    peak_rss_mb = max(d[1] for d in decodes)
    count = int(decodes[0][2])
    decode_rps = count / decode_s
    print(f"floor (lxml parse + XMLSchema.validate, whole tree): {floor_s:.2f} s, peak RSS {floor_rss:.0f} MB")
    print(f"decode+validate (streamed, Contacts out): {decode_s:.2f} s = {decode_rps:,.0f} records/s, "
          f"{decode_s / floor_s:.2f}x the floor, peak RSS {peak_rss_mb:.0f} MB")
    print(
        json.dumps(
            {
                "encode_rps": round(encode_rps),
                "decode_rps": round(decode_rps),
                "decode_s": round(decode_s, 3),
                "floor_s": round(floor_s, 3),
                "peak_rss_mb": round(peak_rss_mb, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
