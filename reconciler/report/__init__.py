"""The HTML report: traffic graph by group, forecast bands vs actual, pools, congestion avoided."""

from reconciler.report.compare import CongestionComparison, compare_with_reactive, reactive_capacity
from reconciler.report.html import ReportData, render_html, write_report

__all__ = [
    "CongestionComparison",
    "ReportData",
    "compare_with_reactive",
    "reactive_capacity",
    "render_html",
    "write_report",
]
