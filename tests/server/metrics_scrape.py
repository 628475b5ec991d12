"""Scraping the metrics endpoint over HTTP, for the tests of the metrics."""

from __future__ import annotations

import asyncio
from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from server_harness import free_port, start_server

from drachtio.server import Server

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def http(address: tuple[str, int], request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as it is; the status, headers and body of the answer."""
    reader, writer = await asyncio.open_connection(*address)
    writer.write(request)
    data = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


async def get(address: tuple[str, int], path: str) -> tuple[int, dict[str, str], bytes]:
    return await http(address, f"GET {path} HTTP/1.1\r\nHost: drachtio\r\n\r\n".encode())


async def scrape(server: Server) -> Samples:
    assert server.metrics is not None
    status, headers, body = await get(server.metrics.address, "/metrics")
    assert status == 200, body
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


def total(samples: Samples, name: str) -> float:
    """The sum of the samples of ``name`` over all its labels."""
    return sum(v for (n, _), v in samples.items() if n == name)


async def metrics_server(**settings: Any) -> Server:
    return await start_server(metrics=f"127.0.0.1:{free_port()}", **settings)
