"""What a job refuses to do for a reason the user must fix (bad data, a device the
machine lacks): the job prints one line naming the reason and the fix, without a
traceback (lthpipe.jobs)."""


class Refused(ValueError):
    """A job cannot run as configured; the message names what and the fix."""
