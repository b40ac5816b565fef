"""Commands of the client portal: links, visits, and what a client may do there."""

from __future__ import annotations

from uuid import UUID

import msgspec

from crm_core.application import CrmApplication, Receipt, command
from crm_core.context import acting_as, portal_actor
from crm_core.portal.domainmodel import PortalAccess, PortalVisit, portal_access_id
from crm_core.sales.domainmodel import Client


class IssuedLink(msgspec.Struct, frozen=True):
    """A fresh portal token: shown once to the staff member, never stored."""

    receipt: Receipt
    token: str


class PortalApplication(CrmApplication):
    @command
    def issue_link(self, workspace_id: UUID, client_id: UUID) -> IssuedLink:
        """Generate the client's portal link, revoking any previous one."""
        client = self._load(Client, client_id, workspace_id, "Client")
        access_id = portal_access_id(client_id)
        if self._exists(access_id):
            access = self._load(PortalAccess, access_id, workspace_id, "Accès portail")
            token = access.reissue(client)
        else:
            access, token = PortalAccess.issue(client)
        return IssuedLink(Receipt(access.id, self._commit(access)), token)

    @command
    def revoke_link(self, workspace_id: UUID, client_id: UUID) -> Receipt:
        access = self._load(
            PortalAccess, portal_access_id(client_id), workspace_id, "Accès portail"
        )
        access.revoke()
        return Receipt(access.id, self._commit(access))

    def record_visit(self, workspace_id: UUID, client_id: UUID) -> Receipt:
        """A visit by the client itself: the actor is the portal, not a staff member."""
        with acting_as(portal_actor(client_id)):
            visit = PortalVisit(workspace_id=workspace_id, client_id=client_id)
            return Receipt(visit.id, self._commit(visit))
