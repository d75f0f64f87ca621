"""A private Dovecot IMAP server for a test: its own config, port, passwd-file user and Maildir.

Started from Debian's dovecot-imapd (`make dovecot` installs it); no system daemon is touched.
As root it runs its login processes as Debian's dovecot/dovenull users, otherwise as the caller.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.mail import free_port

USER, PASSWORD = "bounces@voorbeeld.nl", "imap-test-password"


class Dovecot:
    """`dovecot -F -c <temp config>` on 127.0.0.1:<free port>; stop() ends it and removes its files."""

    def __init__(self, binary: str):
        # Under /tmp with 0755: the unprivileged login process must reach its sockets.
        self.root = Path(tempfile.mkdtemp(prefix="lc-dovecot-"))
        self.root.chmod(0o755)
        self.port = free_port()
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
        (self.root / "dovecot.conf").write_text(self._config())
        with open(self.root / "stderr.log", "wb") as stderr:
            self.process = subprocess.Popen(
                [binary, "-F", "-c", str(self.root / "dovecot.conf")], stdout=subprocess.DEVNULL, stderr=stderr
            )
        self._wait()

    @property
    def url(self) -> str:
        """LEADCAPTURE_BOUNCE_IMAP_URL of the test mailbox."""
        return f"imap://{USER.replace('@', '%40')}:{PASSWORD}@127.0.0.1:{self.port}/INBOX"

    def _config(self) -> str:
        me = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
        login_user, internal_user = ("dovenull", "dovecot") if os.getuid() == 0 else (me, me)
        mail = self.root / "mail"
        mail.mkdir()
        # Dovecot never opens mail as root: as root, the mailbox belongs to the dovecot user.
        uid, gid = (
            (pwd.getpwnam("dovecot").pw_uid, grp.getgrnam("dovecot").gr_gid)
            if os.getuid() == 0
            else (
                os.getuid(),
                os.getgid(),
            )
        )
        os.chown(mail, uid, gid)
        return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {self.root}/run
state_dir = {self.root}/state
log_path = {self.root}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{mail}/%u
first_valid_uid = {uid}
last_valid_uid = {uid}
default_login_user = {login_user}
default_internal_user = {internal_user}
default_internal_group = {group if os.getuid() != 0 else "dovecot"}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {self.root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={mail}/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  inet_listener http {{
    port = 0
  }}
}}
"""

    def _wait(self) -> None:
        import socket

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dovecot exited: {(self.root / 'stderr.log').read_text()} {self.log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"dovecot did not listen on {self.port}: {self.log()}")

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)
