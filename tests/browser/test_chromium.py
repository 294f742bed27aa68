"""The browser harness itself: Debian's Chromium renders a page served on loopback."""

from __future__ import annotations

from aiohttp import web


async def test_chromium_renders_a_loopback_page_and_runs_its_script(browser, aiohttp_server):
    async def page(request: web.Request) -> web.Response:
        html = (
            "<!doctype html><title>t</title><p id=out>static</p>"
            "<script>document.getElementById('out').textContent = 'ran ' + (6 * 7);</script>"
        )
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", page)
    server = await aiohttp_server(app)
    context = await browser.new_context(viewport={"width": 375, "height": 700})
    tab = await context.new_page()
    await tab.goto(str(server.make_url("/")))
    assert await tab.text_content("#out") == "ran 42"
    await context.close()
