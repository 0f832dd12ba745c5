"""The README's curl examples work as written, against a real server."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ordermill.db import Database
from ordermill.domain.access import Role
from ordermill.services import accounts
from tests.e2e.live_server import live_server

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    text = README.read_text()
    block = re.search(
        r"<!-- readme-example:start -->\s*```sh\n(.*?)```\s*<!-- readme-example:end -->",
        text,
        re.S,
    )
    assert block, "README lost its tested example block"
    return block.group(1)


def json_documents(output: str) -> list[dict[str, Any]]:
    decoder = json.JSONDecoder()
    documents, index = [], 0
    while index < len(output):
        if output[index].isspace():
            index += 1
            continue
        document, index = decoder.raw_decode(output, index)
        documents.append(document)
    return documents


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_curl_examples_work_as_written(database: Database) -> None:
    script = readme_example()
    assert "API=http://127.0.0.1:8000\n" in script
    password = "the admin password make run printed"
    with database.write() as session:  # what `make run` does on first run, with a known password
        accounts.create_user(session, email="admin@example.com", password=password, role=Role.ADMIN)

    with live_server(database) as base:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script.replace("http://127.0.0.1:8000", base)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "ADMIN_PASSWORD": password},
        )

    assert result.returncode == 0, result.stderr
    (
        topped_up,
        fetched,
        whatever,
        processed,
        ignored,
        refused_delete,
        actions,
        fulfilled,
        delivered,
        returned,
        cancelled,
        ledger,
        events,
    ) = json_documents(result.stdout)

    assert topped_up["balance"] == "50.00"
    assert fetched["status"] == "pending"
    assert fetched["total"] == "41.70"
    assert whatever["status"] == "pending"
    assert whatever["processed"] is None

    assert processed["status"] == "processed"
    assert processed["strategy"] == "adjust"
    assert processed["total"] == "29.20"
    cake_line = processed["lines"][0]
    assert (cake_line["quantity_ordered"], cake_line["quantity"]) == (3, 2)
    assert processed["adjustments"] == [
        {
            "line_id": cake_line["id"],
            "product_id": cake_line["product_id"],
            "sku": "CAKE-LEMON-1",
            "ordered": 3,
            "processed": 2,
        }
    ]

    assert ignored["strategy"] == "ignore"
    assert [line["quantity"] for line in ignored["lines"]] == [0, 1]
    assert ignored["total"] == "4.20"

    assert refused_delete["status"] == 409
    assert refused_delete["code"] == "order_not_deletable"

    allowed = {a["action"]: (a["allowed"], a["reason"]) for a in actions["actions"]}
    assert allowed["pay"] == (False, "already_paid")
    assert allowed["fulfill"] == (True, None)
    assert fulfilled["status"] == "fulfilled"
    assert fulfilled["tracking_number"] == "JD014600006281"
    assert delivered["status"] == "delivered"
    assert returned["status"] == "returned"
    assert returned["refunded"] == "4.20"
    assert returned["lines"][1]["quantity_restocked"] == 1
    assert cancelled["status"] == "cancelled"
    assert cancelled["refunded"] == "4.20"
    assert [(e["kind"], e["amount"], e["balance_after"]) for e in ledger] == [
        ("refund", "4.20", "25.00"),
        ("refund", "4.20", "20.80"),
        ("charge", "-4.20", "16.60"),
        ("charge", "-29.20", "20.80"),
        ("adjustment", "50.00", "50.00"),
    ]
    assert [e["kind"] for e in events] == [
        "created",
        "processed",
        "payment",
        "fulfilled",
        "delivered",
        "returned",
    ]
