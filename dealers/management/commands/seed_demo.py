"""A lived-in demo: a dealer group with two rooftops, its people, and a few weeks of leads in every state.

Idempotent: every row is found by a natural key (slug, e-mail, the lead's external id), so a second run adds nothing.
"""

import datetime as dt
import random

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from dealers.hours import OpeningSchedule
from dealers.models import Dealer, DealerGroup, Membership, OpeningHours, Role, User
from dealers.services import group_admin_grant, policy_get
from followup.models import Appointment
from followup.services import appointment_outcome_set, appointment_set, attempt_log, lead_close
from leads.models import DeliveryStatus, Lead, Notification, Status
from leads.services import lead_intake, outbox_batch
from routing.models import CallScript
from routing.services import bdc_claim_next, lead_route

FIRST = ["Jan", "Sanne", "Daan", "Emma", "Bram", "Julia", "Lucas", "Sophie", "Sem", "Lotte", "Thijs", "Fleur", "Ruben",
         "Anouk", "Jesse", "Iris", "Milan", "Noor", "Lars", "Eva", "Stijn", "Femke", "Koen", "Lieke", "Tim", "Roos"]
LAST = ["de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos",
        "Peters", "Hendriks", "van Leeuwen", "Dekker", "Brouwer", "de Wit", "Dijkstra", "Smits", "van Dijk", "Kok"]
CARS = [("Hyundai", "Tucson", 32950), ("Kia", "Niro", 29990), ("Volkswagen", "Golf", 24500), ("Toyota", "Yaris", 18950),
        ("Peugeot", "2008", 27450), ("Skoda", "Octavia", 26900), ("Renault", "Clio", 17250), ("Volvo", "XC40", 41900)]
SOURCES = ["marktplaats", "autoscout24", "website", "autotrack"]
MESSAGES = ["Is deze auto nog beschikbaar?", "Wat kan er van de prijs af zonder inruil?", "Graag een proefrit deze week.",
            "Kunt u mij terugbellen over financiering?", "Wat is de inruilwaarde van mijn auto?", ""]
SCRIPTS = {
    "lease_end": "Goedendag, u spreekt met {agent} van {dealer}. Uw leasecontract loopt binnenkort af: zullen we samen "
                 "kijken wat daarna bij u past? Mag ik een afspraak voor u inplannen?",
    "lost_sale": "Goedendag, {agent} van {dealer}. U was een tijd geleden bij ons voor een auto; we horen graag eerlijk "
                 "waarom het toen niet doorging. Wat had u nodig gehad?",
    "data_mining": "Goedendag, {agent} van {dealer}. Uw auto bereikt binnenkort een leeftijd waarop veel klanten "
                   "overstappen. Mag ik u vrijblijvend een voorstel doen?",
    "service": "Goedendag, {agent} van {dealer}. U was onlangs bij ons voor onderhoud. Bent u tevreden, en denkt u "
               "al na over een volgende auto?",
}
STAFF = [
    ("manager@demo.test", "Marieke", "Dijkstra", Role.MANAGER),
    ("sales1@demo.test", "Sanne", "Bakker", Role.SALESPERSON),
    ("sales2@demo.test", "Ruben", "Visser", Role.SALESPERSON),
    ("bdc@demo.test", "Lotte", "Mulder", Role.BDC_AGENT),
]


class Command(BaseCommand):
    help = "Create (or complete) the demo dealer group, its people and a few weeks of realistic leads."

    def add_arguments(self, parser):
        parser.add_argument("--password", default="opvolger-demo")

    def handle(self, password, **options):
        group, _ = DealerGroup.objects.get_or_create(slug="demo-groep", defaults={"name": "Demo Autogroep"})
        amsterdam = self._dealer(group, "demo-amsterdam", "Demo Auto Amsterdam")
        utrecht = self._dealer(group, "demo-utrecht", "Demo Auto Utrecht")
        users = {}
        for email, first, last, role in STAFF:
            users[email] = self._member(amsterdam, email, first, last, role, password)
        self._member(utrecht, "manager.utrecht@demo.test", "Koen", "de Groot", Role.MANAGER, password)
        self._member(utrecht, "sales.utrecht@demo.test", "Iris", "Brouwer", Role.SALESPERSON, password)
        admin = self._user("groep@demo.test", "Femke", "Hendriks", password, staff=True)
        group_admin_grant(group=group, user=admin)
        for reason, text in SCRIPTS.items():
            CallScript.objects.for_dealer(amsterdam).get_or_create(dealer=amsterdam, reason=reason, defaults={"body": text})
        seeded_from = timezone.now()
        with outbox_batch():  # the demo's notices go out in one flush, not a task each
            created = self._leads(amsterdam, 70, users) + self._leads(utrecht, 25, {})
        self._date_notices(group, since=seeded_from)
        self.stdout.write(self.style.SUCCESS(f"Demo ready ({created} new leads)."))
        self.stdout.write(f"Log in with any of these (password: {password}):")
        for email, _first, _last, role in STAFF:
            self.stdout.write(f"  {email:<28} {Role(role).label}")
        self.stdout.write(f"  {'groep@demo.test':<28} {Role.GROUP_ADMIN.label}")
        self.stdout.write(f"  {'manager.utrecht@demo.test':<28} {Role.MANAGER.label} (Utrecht)")

    def _dealer(self, group, slug, name):
        dealer, created = Dealer.objects.get_or_create(slug=slug, defaults={"name": name, "group": group})
        if created:
            for weekday in range(6):
                closes = dt.time(17, 0) if weekday == 5 else dt.time(18, 0)
                OpeningHours.objects.create(dealer=dealer, weekday=weekday, opens=dt.time(9, 0), closes=closes)
        policy_get(dealer=dealer)
        return dealer

    def _user(self, email, first, last, password, staff=False):
        user, created = User.objects.get_or_create(email=email, defaults={"first_name": first, "last_name": last,
                                                                          "is_staff": staff})
        if created:
            user.set_password(password)
            user.save(update_fields=["password"])
        return user

    def _member(self, dealer, email, first, last, role, password):
        user = self._user(email, first, last, password, staff=role == Role.MANAGER)
        Membership.objects.get_or_create(user=user, dealer=dealer, defaults={"role": role})
        return user

    @staticmethod
    def _date_notices(group, *, since):
        """The notices the demo's history made carry their lead's time, and what is older than two hours was read and
        mailed back then: the demo starts with a few fresh notices, not a burst of a hundred e-mails stamped now."""
        recent = timezone.now() - dt.timedelta(hours=2)
        notices = (Notification.objects.for_dealers(group.dealers.all()).filter(created_at__gte=since, lead__isnull=False)
                   .select_related("lead"))
        for notice in notices:
            at = min(notice.lead.received_at, notice.created_at)  # in the demo's story it was sent when the lead came in
            old = at < recent
            Notification.objects.for_dealer(notice.dealer_id).filter(pk=notice.pk).update(
                created_at=at, read_at=at if old else None,
                email_status=DeliveryStatus.SKIPPED if old else notice.email_status,
                email_error="demo history: not mailed" if old else "")

    @staticmethod
    def _opening_moment(schedule, at, rng):
        """A moment the dealer is open, at or after `at`: customers write at night, but people answer in the day."""
        return at if schedule.is_open(at) else schedule.next_opening(at) + dt.timedelta(minutes=rng.randint(0, 180))

    @transaction.atomic
    def _leads(self, dealer, count, users) -> int:
        now = timezone.now()
        schedule = OpeningSchedule.for_dealer(dealer)
        created = 0
        for i in range(count):
            external_id = f"DEMO-{dealer.slug}-{i:04d}"
            if Lead.objects.for_dealer(dealer).filter(external_id=external_id).exists():
                continue  # seeded before: leave it as it is (and record no "duplicate received" on its timeline)
            rng = random.Random(f"{dealer.slug}-{i}")  # each lead its own stream, independent of the others
            first, last = rng.choice(FIRST), rng.choice(LAST)
            make, model, price = rng.choice(CARS)
            passive = i % 5 == 4
            if i >= 6:  # three weeks of history, mostly in opening hours (a few at night: the clock waits for the morning)
                received = now - dt.timedelta(hours=rng.uniform(1, 24 * 21))
                if rng.random() < 0.85:
                    received = min(self._opening_moment(schedule, received, rng), now - dt.timedelta(minutes=30))
            else:  # the newest few arrived minutes ago
                received = now - dt.timedelta(minutes=rng.uniform(1, 30))
            phone = rng.choice([f"06 {rng.randrange(10**7, 10**8):08d}", f"+31 6 {rng.randrange(10**7, 10**8):08d}",
                                f"020-{rng.randrange(10**6, 10**7):07d}", "0000000000"])
            data = {
                "external_id": external_id,
                "channel": "outbound" if passive else rng.choice(["web_form", "web_form", "call", "chat", "whatsapp", "email"]),
                "reason": rng.choice(["lease_end", "lost_sale", "data_mining", "service"]) if passive else None,
                "received_at": received.isoformat(),
                "customer": {"first_name": first, "last_name": last, "phone": phone,
                             "email": f"{first.lower()}.{last.lower().replace(' ', '')}{i}@example.nl" if i % 7 else ""},
                "vehicle": {"interest": "buy", "status": rng.choice(["new", "used"]), "make": make, "model": model,
                            "year": rng.randint(2018, 2026), "price": price},
                "message": rng.choice(MESSAGES),
            }
            if rng.random() < 0.3:
                data["trade_in"] = {"make": rng.choice(CARS)[0], "model": "oud", "year": rng.randint(2008, 2018)}
            source = "lost-sale" if data["reason"] == "lost_sale" else SOURCES[i % len(SOURCES)]
            result = lead_intake(dealer=dealer, source=source, data=data)
            created += 1
            lead = lead_route(lead=result.lead)
            if i >= 6:
                self._work(lead, rng, schedule, users, dealer)
        return created

    def _work(self, lead: Lead, rng, schedule, users, dealer):
        """Give an older lead a believable history: attempts, an appointment, a show, a close."""
        if lead.queue == "bdc":
            agent = users.get("bdc@demo.test")
            if not agent or rng.random() < 0.4:
                return
            lead = bdc_claim_next(dealer=dealer, agent=agent) or lead
        worker = lead.assignee
        stage = rng.random()
        # The first attempt: mostly within minutes of the clock starting (the speed the domain describes), some late.
        start = lead.clock_started_at or lead.received_at
        delay = rng.choice([1, 1, 2, 2, 3, 4, 5, 7, 12, 25, 45, 90, 240])
        at = self._opening_moment(schedule, start + dt.timedelta(minutes=delay, seconds=rng.randint(0, 59)), rng)
        now = timezone.now()
        if stage < 0.12 or at >= now:
            return  # still untouched: the dashboard shows it waiting
        if stage < 0.3:
            for n in range(rng.choice([4, 5])):
                when = at + dt.timedelta(days=n, minutes=n * 7)
                if when < now:
                    outcome = rng.choice(["no_answer", "voicemail", "busy"])
                    attempt_log(lead=lead, by=worker, channel="call", outcome=outcome, at=when)
            if Lead.objects.for_dealer(lead.dealer_id).get(pk=lead.pk).counted_attempts >= 4:
                lead_close(lead=lead, by=worker, outcome=Status.UNREACHABLE, reason="Niet bereikbaar na vier pogingen")
            return
        attempt_log(lead=lead, by=worker, channel=rng.choice(["call", "call", "whatsapp", "email"]), outcome="connected",
                    at=at, verified=rng.random() < 0.3, duration_seconds=rng.randint(60, 300))
        if stage < 0.45:
            return
        if stage < 0.55:
            lead_close(lead=lead, by=worker, outcome=Status.NOT_INTERESTED, reason="Heeft al een auto gekocht")
            return
        offered = schedule.appointment_times(at + dt.timedelta(days=rng.randint(0, 3)))
        if not offered:
            return
        appointment = appointment_set(lead=lead, by=worker, kind=rng.choice(["showroom", "test_drive"]),
                                      scheduled_at=rng.choice(offered))
        shown_already = Appointment.objects.for_dealer(appointment.dealer_id).filter(pk=appointment.pk, showed__isnull=False)
        if appointment.scheduled_at < now and not shown_already.exists():
            showed = rng.random() < 0.7
            appointment_outcome_set(appointment=appointment, by=worker, showed=showed)
            if showed:
                lead_close(lead=lead, by=worker, outcome=rng.choice([Status.SOLD, Status.SOLD, Status.LOST]),
                           reason="" if rng.random() < 0.5 else "Prijs te hoog")
