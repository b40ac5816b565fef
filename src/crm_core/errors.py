"""Named domain errors. Their message is French: it is what a user reads."""

from __future__ import annotations

from collections.abc import Mapping


class DomainError(Exception):
    """A business rule refused a command; nothing was recorded."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInputError(DomainError):
    """One or more fields are invalid; `errors` maps each field to its message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(" ".join(self.errors.values()) or "Saisie invalide.")


class NotFoundError(DomainError):
    pass


class ConflictError(DomainError):
    """The command lost a race or would duplicate an existing record."""


class ConcurrentChangeError(ConflictError):
    def __init__(self) -> None:
        super().__init__(
            "Cette fiche vient d’être modifiée par quelqu’un d’autre. "
            "Rechargez la page puis réessayez."
        )


class DuplicateError(ConflictError):
    pass


class ClientArchivedError(DomainError):
    def __init__(self) -> None:
        super().__init__("Ce client est archivé : restaurez-le avant de le modifier.")


class ClientErasedError(DomainError):
    def __init__(self) -> None:
        super().__init__(
            "Les données de ce client ont été effacées (RGPD) : il ne peut plus changer."
        )


class OpportunityClosedError(DomainError):
    pass


class OpportunityNotWonError(DomainError):
    pass


class TicketClosedError(DomainError):
    pass


class AuthenticationError(DomainError):
    def __init__(self) -> None:
        super().__init__("Email ou mot de passe incorrect.")


class AccountDisabledError(DomainError):
    def __init__(self) -> None:
        super().__init__("Ce compte est désactivé. Contactez un administrateur.")


class PaymentError(DomainError):
    """A payment request or a Stripe setting was refused by a business rule."""


class StripeNotConfiguredError(PaymentError):
    def __init__(self) -> None:
        super().__init__(
            "Stripe n’est pas configuré : renseignez votre clé secrète dans "
            "Paramètres › Paiements, puis réessayez."
        )


class PaymentGatewayError(PaymentError):
    """Stripe refused the request (bad key, invalid amount...): retrying will not help."""


class PaymentGatewayUnavailableError(PaymentGatewayError):
    """Stripe could not be reached or answered too slowly: retrying later may help."""


class PersonalDataErasedError(DomainError):
    """Personal data would be recorded about a person whose data was erased (RGPD)."""

    def __init__(self) -> None:
        super().__init__(
            "Les données personnelles de cette personne ont été effacées : "
            "impossible d’en enregistrer de nouvelles."
        )


class ErasureUnavailableError(DomainError):
    def __init__(self) -> None:
        super().__init__(
            "Effacement impossible : le stockage configuré ne chiffre pas les données personnelles."
        )
