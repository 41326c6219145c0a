"""Open sklasd's HTML pages (``trend.html``, ``report.html``) in headless Chromium.

Loads each page through the Chrome DevTools protocol and prints, per page: console
messages and exceptions (there must be none), every image with its decoded size
(each must have loaded), and every audio player with its decoded duration (each
must have loaded its metadata). Exit status 1 if any check fails.

Needs ``chromium`` on PATH (``apt-get install chromium``) and tornado (installed with
``sklasd[dask]``) for the DevTools websocket.

Usage: python benchmarks/check_html_chromium.py PAGE.html [PAGE.html ...]
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PROBE = """
(async () => {
  const images = [...document.images].map(i => [i.alt, i.complete, i.naturalWidth,
                                                i.naturalHeight]);
  const audio = await Promise.all([...document.querySelectorAll('audio')].map(a =>
    new Promise(resolve => {
      const done = () => resolve([a.readyState, a.duration,
                                  a.error ? a.error.code : null]);
      if (a.readyState >= 1) return done();
      a.addEventListener('loadedmetadata', done);
      a.addEventListener('error', done);
      setTimeout(done, 10000);
      a.preload = 'metadata';
      a.load();
    })));
  return JSON.stringify({images, audio});
})()
"""


async def _inspect(ws_url, page):
    from tornado.websocket import websocket_connect

    connection = await websocket_connect(ws_url, max_message_size=1 << 30)
    counter, messages = 0, []

    async def call(method, **params):
        nonlocal counter
        counter += 1
        connection.write_message(json.dumps({"id": counter, "method": method,
                                             "params": params}))
        while True:
            reply = json.loads(await connection.read_message())
            if reply.get("id") == counter:
                return reply.get("result", {})
            if reply.get("method") in ("Runtime.consoleAPICalled",
                                       "Runtime.exceptionThrown", "Log.entryAdded"):
                messages.append(reply["params"])

    await call("Runtime.enable")
    await call("Log.enable")
    await call("Page.enable")
    await call("Page.navigate", url=page.resolve().as_uri())
    time.sleep(2.0)
    result = await call("Runtime.evaluate", expression=PROBE, awaitPromise=True,
                        returnByValue=True)
    connection.close()
    return json.loads(result["result"]["value"]), messages


def check(page, port=9333):
    from tornado.ioloop import IOLoop

    profile = tempfile.mkdtemp(prefix="sklasd-chromium-")
    browser = subprocess.Popen(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
         f"--remote-debugging-port={port}", f"--user-data-dir={profile}",
         "--autoplay-policy=no-user-gesture-required", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                targets = json.load(urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/json"))
                ws_url = next(t["webSocketDebuggerUrl"] for t in targets
                              if t["type"] == "page")
                break
            except (OSError, StopIteration):
                time.sleep(0.2)
        else:
            raise RuntimeError("chromium did not start")
        found, messages = IOLoop.current().run_sync(lambda: _inspect(ws_url, page))
    finally:
        browser.terminate()
        browser.wait()
        shutil.rmtree(profile, ignore_errors=True)
    bad_images = [i for i in found["images"] if not (i[1] and i[2] > 0)]
    bad_audio = [a for a in found["audio"] if a[0] < 1 or a[2] is not None]
    print(f"{page}: {len(found['images'])} images ({len(bad_images)} not loaded), "
          f"{len(found['audio'])} players ({len(bad_audio)} not loaded: "
          f"durations {sorted({round(a[1] or 0, 2) for a in found['audio']})} s), "
          f"{len(messages)} console messages")
    for message in messages:
        print("   console:", json.dumps(message)[:300])
    for image in found["images"]:
        print(f"   image {image[0]!r}: {image[2]} x {image[3]} px")
    return not (bad_images or bad_audio or messages)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="+", type=Path)
    args = parser.parse_args()
    results = [check(page) for page in args.pages]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
