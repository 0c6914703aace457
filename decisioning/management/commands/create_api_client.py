"""``python manage.py create_api_client NAME`` — prints the token once; stores only its hash."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from decisioning.clients import api_client_create, api_client_set_active
from decisioning.models import ApiClient


class Command(BaseCommand):
    help = "Create an API client and print its token once (or --disable / --enable an existing one)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--role", choices=[r.value for r in ApiClient.Role], default=ApiClient.Role.SYSTEM)
        parser.add_argument("--callback-url", default="")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--disable", action="store_true", help="Disable an existing client.")
        group.add_argument("--enable", action="store_true", help="Re-enable a disabled client.")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"]
        if options["disable"] or options["enable"]:
            if not ApiClient.objects.filter(name=name).exists():
                raise CommandError(f"No API client named {name!r}.")
            client = api_client_set_active(name=name, is_active=options["enable"], actor="system:cli")
            self.stdout.write(f"{client.name}: {'enabled' if client.is_active else 'disabled'}")
            return
        if ApiClient.objects.filter(name=name).exists():
            raise CommandError(f"An API client named {name!r} exists already; tokens are shown only once.")
        client, token = api_client_create(
            name=name, role=options["role"], callback_url=options["callback_url"], actor="system:cli"
        )
        self.stdout.write(f"Created API client {client.name!r} (role {client.role}).")
        self.stdout.write("Token (shown once; only its hash is stored):")
        self.stdout.write(token)
