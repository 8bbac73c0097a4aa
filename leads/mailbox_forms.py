"""The manager's form for connecting a mailbox: what a mail program asks for, nothing more."""

import ipaddress
import re
import socket

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .mailbox import ServerSettings
from .models import AfterRead, MailboxSecurity

HOST_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
DEFAULT_PORTS = {MailboxSecurity.SSL: 993, MailboxSecurity.STARTTLS: 143, MailboxSecurity.NONE: 143}


def _private(host: str) -> bool:
    """True when the name resolves to this machine or a private network (the page must not probe our own services)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False  # an unknown name fails at connecting, with that message
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        if address.is_private or address.is_loopback or address.is_link_local or address.is_reserved:
            return True
    return False


def _folder_name(value: str) -> str:
    value = value.strip()
    if any(ch in value for ch in "\r\n\x00"):
        raise forms.ValidationError(_("A folder name cannot contain line breaks."))
    return value


class MailboxForm(forms.Form):
    host = forms.CharField(label=_("Mail server (IMAP)"), max_length=253,
                           help_text=_("As in your mail program's incoming-mail settings, e.g. imap.example.nl."),
                           widget=forms.TextInput(attrs={"autocapitalize": "none", "autocomplete": "off"}))
    security = forms.ChoiceField(label=_("Security"), choices=MailboxSecurity.choices, initial=MailboxSecurity.SSL)
    port = forms.IntegerField(label=_("Port"), min_value=1, max_value=65535, required=False,
                              help_text=_("Empty: 993 for SSL/TLS, 143 otherwise."))
    username = forms.CharField(label=_("User name"), max_length=255,
                               widget=forms.TextInput(attrs={"autocapitalize": "none", "autocomplete": "off"}))
    # Shown again after "Test the connection", so the manager need not type it twice; never stored in clear.
    password = forms.CharField(label=_("Password"), max_length=1000, strip=False,
                               widget=forms.PasswordInput(render_value=True, attrs={"autocomplete": "new-password"}))
    folder = forms.CharField(label=_("Folder to read"), max_length=255, initial="INBOX")
    after_read = forms.ChoiceField(label=_("After reading a mail"), choices=AfterRead.choices,
                                   initial=AfterRead.MARK_SEEN,
                                   help_text=_("Opvolger never deletes mail from your mailbox."))
    move_to = forms.CharField(label=_("Move to folder"), max_length=255, required=False,
                              help_text=_("Only when moving: the folder must exist, e.g. Opvolger."))

    def clean_host(self):
        host = self.cleaned_data["host"].strip().lower()
        if not HOST_RE.match(host):
            raise forms.ValidationError(_("Enter the server's name or address only, e.g. imap.example.nl."))
        if not settings.MAILBOX_ALLOW_PRIVATE_HOSTS and _private(host):
            raise forms.ValidationError(_("This server is on a private network that Opvolger cannot reach."))
        return host

    def clean_username(self):
        value = self.cleaned_data["username"].strip()
        if any(ch in value for ch in "\r\n\x00"):
            raise forms.ValidationError(_("A user name cannot contain line breaks."))
        return value

    def clean_password(self):
        value = self.cleaned_data["password"]
        if any(ch in value for ch in "\r\n\x00"):
            raise forms.ValidationError(_("A password cannot contain line breaks."))
        return value

    def clean_folder(self):
        return _folder_name(self.cleaned_data["folder"]) or "INBOX"

    def clean_move_to(self):
        return _folder_name(self.cleaned_data["move_to"])

    def clean(self):
        data = super().clean()
        if data.get("after_read") == AfterRead.MOVE and not data.get("move_to"):
            self.add_error("move_to", _("Name the folder to move read mail to."))
        if data.get("security") and not data.get("port"):
            data["port"] = DEFAULT_PORTS[data["security"]]
        return data

    def server(self) -> ServerSettings:
        data = self.cleaned_data
        return ServerSettings(host=data["host"], port=data["port"], username=data["username"], password=data["password"],
                              security=data["security"], folder=data["folder"],
                              move_to=data["move_to"] if data["after_read"] == AfterRead.MOVE else "")
