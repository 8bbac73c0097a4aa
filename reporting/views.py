"""The sales manager's dashboard: the live board, the report over a period, its CSV exports and the reassignment."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views import View

from config.db_router import reading_replica
from dealers.access import MANAGING_ROLES, group_dealers
from dealers.errors import DomainError
from dealers.models import Role
from dealers.views import DealerScopedMixin
from leads.models import Lead
from leads.selectors import mailboxes_failing
from routing.services import lead_reassign

from . import charts
from .csv import csv_response
from .formatting import count, duration, figure, percent
from .forms import ReassignForm, ReportFilterForm
from .selectors import (
    Report,
    board_counts,
    known_sources,
    open_escalations,
    overdue_leads,
    report_build,
    report_scope,
    team_members,
    untouched_leads,
)
from .tables import PAGE_HIDDEN, TABLES, cell_value, definitions

EXPORT_PARTS = {"summary": ("summary", "dealers"), "funnel": ("summary", "dealers"), "dealers": ("summary", "dealers"),
                "people": ("people",), "teams": ("teams",), "sources": ("sources",), "kinds": ("kinds",),
                "weeks": ("weeks",), "speed": ("speed",)}


class ReportScopeMixin(DealerScopedMixin):
    """Managers and group admins; `?scope=group` (a group admin's default) covers every rooftop of their group."""

    allowed_roles = MANAGING_ROLES

    def resolve_report_scope(self) -> None:
        wanted = self.request.GET.get("scope")
        dealers = None
        if wanted == "group" or (wanted is None and self.access.role == Role.GROUP_ADMIN):
            dealers = group_dealers(access=self.access)
            if dealers is None and wanted == "group":
                raise PermissionDenied  # a rooftop's manager asking for the whole group
        self.is_group = dealers is not None
        self.scope = report_scope(dealers=dealers or [self.access.dealer])
        self.scope_name = self.access.dealer.group.name if self.is_group else self.access.dealer.name
        self.scope_slug = self.access.dealer.group.slug if self.is_group else self.access.dealer.slug


def _total_row(report: Report, label: str):
    report.summary.label = label
    return report.summary


def _options_html(people: list[tuple[int, str]], *, current) -> str:
    """The reassign dropdown's options for one lead (its dealer's people on duty; the current assignee disabled)."""
    return mark_safe("".join(f'<option value="{pk}"{" disabled" if pk == current else ""}>{escape(name)}</option>'
                             for pk, name in people))


def _table_body(rows, columns) -> str:
    """A table's rows as HTML, built here rather than cell by cell in the template: a group's year has thousands of
    cells, and the template engine spends ~20 µs on each. Every value is escaped."""
    html = []
    for row in rows:
        cells = [escape(figure(cell_value(row, c), c.kind)) for c in columns]
        total = ' class="total-row"' if getattr(row, "key", None) == "all" else ""
        html.append(f'<tr{total}><th scope="row">{cells[0]}</th>' + "".join(f'<td class="num">{c}</td>' for c in cells[1:])
                    + "</tr>")
    return mark_safe("".join(html))


class DashboardView(ReportScopeMixin, View):
    template_name = "reporting/dashboard.html"

    def get(self, request):
        self.resolve_report_scope()
        scope, now = self.scope, timezone.now()
        members = list(team_members(scope=scope, now=now))
        people = sorted({(m.user_id, self._person(m)) for m in members}, key=lambda p: p[1])
        # The figures may lag the primary by seconds (a streaming replica, when there is one); the live board below,
        # which the manager acts on, reads the primary.
        with reading_replica():
            sources = known_sources(scope=scope)
            if request.GET.get("source") and request.GET["source"] not in sources:
                sources.append(request.GET["source"])
            form = ReportFilterForm(request.GET, tz=scope.tz, sources=sources, people=people)
            report = report_build(scope=scope, filters=form.filters())
        untouched = list(untouched_leads(scope=scope, now=now))
        overdue = list(overdue_leads(scope=scope, now=now))
        options = {}
        for m in members:
            if m.on_duty:
                options.setdefault(m.dealer_id, []).append((m.user_id, m.user.display_name))
        for lead in untouched + overdue:
            lead.reassign_options = _options_html(options.get(lead.dealer_id, []), current=lead.assignee_id)
        counts_by_dealer = {row["dealer_id"]: row for row in board_counts(scope=scope, now=now, by_dealer=True)}
        context = {
            "scope": scope, "is_group": self.is_group, "scope_name": self.scope_name, "access": self.access,
            "can_see_group": self.is_group or (self.access.role == Role.GROUP_ADMIN),
            "now": now, "form": form, "filters": report.filters, "report": report,
            "board": board_counts(scope=scope, now=now),
            "board_by_dealer": [(d, counts_by_dealer.get(d.pk, {})) for d in scope.dealers] if self.is_group else [],
            "untouched": untouched, "overdue": overdue, "escalations": open_escalations(scope=scope),
            "members": members, "on_duty": [m for m in members if m.on_duty],
            "tables": self._tables(report), "charts": self._charts(report),
            "querystring": request.GET.urlencode(), "next": request.get_full_path(), "definitions": definitions(),
            "failing_mailboxes": mailboxes_failing(dealers=scope.dealers),
        }
        with timezone.override(scope.tz):
            return render(request, self.template_name, context)

    def _person(self, membership) -> str:
        name = membership.user.display_name
        return name if not self.is_group else f"{name} · {membership.dealer.name}"

    def _tables(self, report: Report) -> list[dict]:
        total = _total_row(report, _("All leads"))
        # A group's per-rooftop table is its funnel too: each rooftop and, last, all of them together.
        tables = [{"key": "dealers", "rows": [*report.dealers, total]} if self.is_group else {"key": "funnel", "rows": [total]}]
        tables += [{"key": "people", "rows": report.people}, {"key": "teams", "rows": report.teams},
                   {"key": "sources", "rows": report.sources}, {"key": "kinds", "rows": report.kinds},
                   {"key": "weeks", "rows": report.weeks}, {"key": "speed", "rows": report.speed}]
        for table in tables:
            table.update(TABLES[table["key"]])
            # The page may leave out columns the CSV keeps (PAGE_HIDDEN): every table fits its card at 1440 px.
            table["columns"] = [c for c in table["columns"] if c.key not in PAGE_HIDDEN.get(table["key"], ())]
            table["body"] = _table_body(table["rows"], table["columns"])
        return tables

    def _charts(self, report: Report) -> dict:
        s = report.summary
        map_target = s.targets.get("map_target")
        target_text = _("MAP target %(target)s") % {"target": percent(map_target)} if map_target is not None else ""
        # Each step as a share of the step before it, as the KPI cards above the chart say it.
        steps = [("leads", _("Leads"), None, ""), ("contacted", _("Contacted"), s.contact_rate, _("of the leads")),
                 ("appointments", _("Appointments"), s.appointment_of_contacted_rate, _("of the contacted")),
                 ("shown", _("Shown"), s.show_rate, _("of the appointments")),
                 ("sold", _("Sold"), s.close_rate, _("of the shown"))]
        funnel = charts.bar_chart(
            chart_id="chart-funnel", title=_("Funnel: leads to sales"), value_header=_("Leads"),
            description=_("%(leads)s leads, %(contacted)s contacted, %(appointments)s with an appointment, %(shown)s shown, "
                          "%(sold)s sold.") % {k: count(getattr(s, k)) for k, *_rest in steps},
            bars=[charts.Bar(label, getattr(s, key),
                             count(getattr(s, key)) + (f" · {percent(rate)} {of}" if rate is not None else ""))
                  for key, label, rate, of in steps])
        speed = charts.histogram(
            chart_id="chart-speed", width=charts.WIDE,
            title=_("Speed to lead: time to the first attempt"), value_header=_("Leads"),
            description=_("Median %(median)s, 90th percentile %(p90)s; %(share)s of the leads had a first attempt within "
                          "the deadline.") % {"median": duration(s.first_attempt_median), "p90": duration(s.first_attempt_p90),
                                              "share": percent(s.within_deadline_rate)},
            bars=[charts.Bar(b.label, b.leads, count(b.leads), b.within_deadline) for b in report.speed])
        people = [p for p in report.people if p.leads]
        map_chart = charts.bar_chart(
            chart_id="chart-map", width=charts.WIDE,
            title=_("Appointment rate per person against the MAP"), value_header=_("Appointment rate"),
            description=_("Each person's appointments per lead; the dashed line is the MAP target."),
            bars=[charts.Bar(p.label, p.appointment_rate, percent(p.appointment_rate),
                             p.meets("appointment_rate", "map_target") is False) for p in people],
            maximum=1.0 if people else None, target=float(map_target) if map_target is not None else None,
            target_text=target_text)
        sources = charts.bar_chart(
            chart_id="chart-sources", width=charts.WIDE,
            title=_("Which sources bring leads that buy"), value_header=_("Sale rate"),
            description=_("Sold per lead, for each source."),
            bars=[charts.Bar(r.label, r.sale_rate, percent(r.sale_rate)) for r in report.sources])
        weeks = report.weeks
        trend = charts.trend_chart(
            chart_id="chart-trend", width=charts.WIDE, title=_("Weekly trend"), labels=[w.key.strftime("%d-%m") for w in weeks],
            description=_("Contact rate and appointment rate per week of arrival, against the MAP target."),
            series=[charts.Series(_("Contact rate"), [w.contact_rate for w in weeks], [percent(w.contact_rate) for w in weeks],
                                  charts.BLUE),
                    charts.Series(_("Appointment rate"), [w.appointment_rate for w in weeks],
                                  [percent(w.appointment_rate) for w in weeks], charts.GREEN)],
            target=float(map_target) if map_target is not None else None, target_text=target_text, axis_text=percent)
        # A group's people would make a chart of a hundred bars: there the table says it, the chart is per rooftop.
        result = {"funnel": funnel, "speed": speed, "map": None if self.is_group else map_chart, "sources": sources,
                  "trend": trend}
        if self.is_group:
            result["dealers"] = charts.bar_chart(
                chart_id="chart-dealers", title=_("Appointment rate per rooftop"), value_header=_("Appointment rate"),
                description=_("Each rooftop's appointments per lead, against its MAP target."),
                bars=[charts.Bar(d.label, d.appointment_rate, percent(d.appointment_rate),
                                 d.meets("appointment_rate", "map_target") is False) for d in report.dealers],
                maximum=1.0, target=float(map_target) if map_target is not None else None, target_text=target_text)
        return result


class ReportExportView(ReportScopeMixin, View):
    """One table of the report as CSV for Excel (Dutch settings), with the page's filters."""

    def get(self, request, table: str):
        if table not in EXPORT_PARTS:
            raise Http404
        self.resolve_report_scope()
        form = ReportFilterForm(request.GET, tz=self.scope.tz)
        if not form.is_valid():
            errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
            return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
        with reading_replica():
            report = report_build(scope=self.scope, filters=form.filters(), parts=EXPORT_PARTS[table])
        if table in ("summary", "funnel", "dealers"):
            total = _total_row(report, self.scope_name)
            rows = [*report.dealers, total] if self.is_group else [total]
        else:
            rows = getattr(report, table)
        f = report.filters
        filename = f"{self.scope_slug}-{table}-{f.date_from:%Y-%m-%d}-{f.date_to:%Y-%m-%d}.csv"
        columns = TABLES["summary" if table == "dealers" else table]["columns"]
        return csv_response(filename=filename, columns=columns, rows=rows)


class LeadReassignView(ReportScopeMixin, View):
    """The live board's one action: give an open lead to another on-duty salesperson or BDC agent of its dealer."""

    def get_scoped_queryset(self):
        return Lead.objects.for_access(self.access).open()

    def post(self, request, pk):
        lead = get_object_or_404(self.get_queryset().select_related("customer"), pk=pk)  # another dealer's lead: 404
        form = ReassignForm(request.POST, dealer=self.access.dealer)
        if form.is_valid():
            to_user = form.cleaned_data["to_user"]
            try:
                lead_reassign(lead=lead, to_user=to_user, by=request.user)
            except DomainError as exc:  # the person left the team meanwhile
                messages.error(request, exc.detail)
            else:
                messages.success(request, _("%(lead)s now goes to %(person)s.") % {
                    "lead": lead.contact_label, "person": to_user.display_name})
        else:
            messages.error(request, _("Choose someone on duty at this dealer."))
        target = request.POST.get("next") or reverse("dashboard")
        if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
            target = reverse("dashboard")
        return HttpResponseRedirect(target)

