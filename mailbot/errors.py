"""The exceptions mailbot raises, by what the caller should do about them."""


class MailbotError(Exception):
    """Base class: every error mailbot raises on purpose."""


class ConfigError(MailbotError):
    """Raised when a configuration key is missing or has a bad value.

    The message names the key, so an operator can fix it in one look.
    """

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


class UsageError(MailbotError):
    """Raised when a command-line argument is wrong; the message names it."""

    def __init__(self, argument: str, problem: str) -> None:
        super().__init__(f"{argument}: {problem}")
        self.argument = argument


class TemporaryError(MailbotError):
    """Raised when a server or resource failed in a way worth retrying later."""


class DatabaseUnavailable(TemporaryError):
    """Raised when the database cannot be reached; the work waits for it."""


class ServerUnavailable(TemporaryError):
    """Raised when a server cannot be reached or refuses every mail for now.

    It concerns the server, not one mail: the rest of the batch waits too.
    """


class LoginRefused(ServerUnavailable):
    """Raised when a server refused mailbot's login: the server is reached,
    and the section's username and password need checking."""


class FolderMissing(ServerUnavailable):
    """Raised when the IMAP server takes mailbot's login but will not open
    the configured folder: [imap] folder needs checking, no outage waits."""


class ServerFailsFetch(ServerUnavailable):
    """Raised when the IMAP server fails a FETCH even of mail it delivered
    before (ends the session, or refuses it): its own state is at fault (a
    broken index, mail files it cannot read), not one mail's, so no mail is
    counted against its attempts and the intake waits as for an outage."""


class SessionEndedAtMail(TemporaryError):
    """Raised when the IMAP server ended the session at a FETCH of mail:
    likely a mail's fault (one it cannot read), not the server's outage. A
    batch's mails are asked alone next time; a mail asked alone is counted
    and waits, once the server was seen to read other mail (else
    ServerFailsFetch). The next session starts at once (a server really
    gone is found out then, by the connection's failure)."""


class PermanentError(MailbotError):
    """Raised when an operation can never succeed as asked; record it and stop."""


class DeliveryUncertain(MailbotError):
    """Raised when a mail may or may not have reached the SMTP server.

    The server took the whole message but its final answer never came, so
    sending again could deliver it twice.
    """


class StageError(MailbotError):
    """Raised when one stage of the pipeline cannot handle one mail.

    The mail is quarantined under the stage's name; the batch goes on.
    `configuration` says the fault is the configuration's (a template), not
    the mail's: every mail would meet it.
    """

    def __init__(self, stage: str, reason: str, configuration: bool = False) -> None:
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason
        self.configuration = configuration


class Terminated(KeyboardInterrupt):
    """Raised in a one-shot command by SIGTERM: stopped like by Ctrl-C, so
    that a mail being sent goes back to the outbox (or is uncertain) at once."""
