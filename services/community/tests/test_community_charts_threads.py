"""The report and the public charts are drawn in worker threads (`asyncio.to_thread`), several
at once: they must not go through pyplot, whose current-figure state is global and not
thread-safe (two reports drawn together could swap or lose pages)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

# Run in a fresh interpreter: whether pyplot was imported is a property of the process, and
# another test of this session may have imported it.
_DRAW_FOUR_AT_ONCE = textwrap.dedent("""
    import sys
    from concurrent.futures import ThreadPoolExecutor
    from datetime import date

    import pypdfium2 as pdfium

    from cowork.community import charts_report as cr

    def report(period, lang):
        data = cr.ReportData(period=period, members_by_month=[(period, 7)],
                             burn_down={"P": [(date(2027, 3, 1), 5000)]},
                             heatmap={(1, 9): 3.0}, demand={"hot_desk / mon": 4},
                             meetings=[("Incontro " + period, 30, 12)])
        return cr.report_pdf(data, lang)

    csv = b"residence_istat,age_band,members,flag\\ntotal,25-34,12,\\ntotal,35-44,,c\\n"
    jobs = [("2027-01", "it"), ("2027-02", "en"), ("2027-03", "it"), ("2027-04", "en")]
    with ThreadPoolExecutor(8) as pool:
        pdfs = list(pool.map(lambda job: report(*job), jobs))
        pngs = list(pool.map(lambda job: cr.public_chart_png("members-by-age-band", csv, *job),
                             jobs))
    for (period, lang), pdf in zip(jobs, pdfs, strict=True):
        document = pdfium.PdfDocument(pdf)
        assert len(document) == 6, (period, len(document))
        cover = document[0].get_textpage().get_text_range()
        assert cr.title("cover", lang, period=period) in cover, (period, cover)
    assert all(png.startswith(b"\\x89PNG\\r\\n\\x1a\\n") for png in pngs)
    assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
    print("ok")
""")


def test_reports_and_charts_drawn_in_threads_at_once_use_no_pyplot() -> None:
    done = subprocess.run([sys.executable, "-c", _DRAW_FOUR_AT_ONCE], capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr[-3000:]
