"""Servers of the compatibility suite (test_compat_servers.py): each one
from its Debian package, with its own config in its temp dir, on a
127.0.0.1 ephemeral port, in its own process group (servers.Server).

Every server serves the same docroot (docroots.make_docroot plus the PHP
scripts under php/), with static validators off where the server has a
switch for it, and answers a dynamic page "its way": a CGI for servers that
run CGIs, PHP for the PHP stacks.  Helper daemons (php-fpm, fcgiwrap) run
bare beside the server, in their own process group, on unix sockets in the
temp dir, and stop with it.
"""

import os
import shutil
import time

import docroots
import servers

HERE = os.path.dirname(os.path.abspath(__file__))
PHP_DIR = os.path.join(HERE, "php")
APACHE_MODULES = "/usr/lib/apache2/modules"


def make_docroot(base):
    """docroots.make_docroot with the CGIs, plus php/ and a changing.txt
    beside the scripts that read it; readable by the servers' own users
    (Apache's and php-fpm's www-data, python's nobody)."""
    d = docroots.make_docroot(base, cgi=True)
    php = os.path.join(d, "php")
    shutil.copytree(PHP_DIR, php)
    os.makedirs(os.path.join(d, "app"))
    shutil.copytree(os.path.join(HERE, "apps", "jsp"), os.path.join(d, "jsp"))
    for sub in ("cgi-bin", "php", "app", "jsp"):
        docroots.write_file(os.path.join(d, sub, "changing.txt"),
                           b"first content\n")
    for root, dirs, files in os.walk(d):
        for n in dirs:
            os.chmod(os.path.join(root, n), 0o755)
        for n in files:
            p = os.path.join(root, n)
            os.chmod(p, 0o777 if n.endswith(".sh") else 0o666)
    return d


class HelperMixin:
    """A server that needs helper daemons: helpers() gives their command
    lines; they start before the server and stop after it."""

    def helpers(self):
        return []

    def helper_sockets(self):
        return []

    def start(self, attempts=3):
        self.helper_procs = []
        cmds = self.helpers()
        for sock in self.helper_sockets():  # a stopped helper's, on restart
            if os.path.exists(sock):
                os.unlink(sock)
        with open(os.path.join(self.tmp, "helpers.log"), "ab") as log:
            for cmd in cmds:
                self.helper_procs.append(servers.spawn(
                    cmd, cwd=self.tmp, env=servers.clean_env(), stdout=log,
                    stderr=log))
        deadline = time.monotonic() + 10
        while not all(os.path.exists(s) for s in self.helper_sockets()):
            if time.monotonic() > deadline or any(
                    p.poll() is not None for p in self.helper_procs):
                self.stop()
                raise RuntimeError("%s: helper did not start:\n%s" % (
                    self.name, open(os.path.join(self.tmp, "helpers.log"),
                                    errors="replace").read()))
            time.sleep(0.02)
        return super().start(attempts)

    def stop(self):
        super().stop()
        for p in getattr(self, "helper_procs", []):
            servers.stop_group(p, timeout=3.0)
        self.helper_procs = []


def php_fpm_helper(tmp):
    """php-fpm (bare: it talks FastCGI on a unix socket, not HTTP) with one
    static pool of two workers as www-data. Returns (command, socket)."""
    sock = os.path.join(tmp, "php-fpm.sock")
    conf = os.path.join(tmp, "php-fpm.conf")
    with open(conf, "w") as f:
        f.write("""[global]
pid = %(t)s/php-fpm.pid
error_log = %(t)s/php-fpm.log
daemonize = no
[www]
user = www-data
group = www-data
listen = %(s)s
listen.mode = 0666
pm = static
pm.max_children = 2
""" % {"t": tmp, "s": sock})
    return [shutil.which("php-fpm8.2") or "php-fpm", "-n", "-F", "-y",
            conf], sock


class ApacheServer(HelperMixin, servers.Server):
    """Apache 2.4 in the foreground with a small MPM and its own config.
    dynamic: 'cgid' (event + mod_cgid), 'cgi' (prefork + mod_cgi),
    'php-cgi' (prefork + mod_cgi + mod_actions running php-cgi),
    'mod_php' (prefork + libphp), 'php-fpm' (event + proxy_fcgi to php-fpm
    on a unix socket). FileETag None: static files carry Last-Modified
    only."""

    binary = "apache2"

    def __init__(self, docroot, dynamic="cgid", **kw):
        self.dynamic = dynamic
        self.mpm = "prefork" if dynamic in ("cgi", "php-cgi",
                                            "mod_php") else "event"
        self.name = "apache-%s-%s" % (self.mpm, dynamic)
        super().__init__(docroot, **kw)
        os.chmod(self.tmp, 0o755)  # the cgid and php-fpm sockets: www-data

    def helpers(self):
        if self.dynamic != "php-fpm":
            return []
        cmd, self.fpm_sock = php_fpm_helper(self.tmp)
        return [cmd]

    def helper_sockets(self):
        return [self.fpm_sock] if self.dynamic == "php-fpm" else []

    def command(self):
        t = self.tmp
        mods = ["mpm_%s" % self.mpm, "authz_core", "mime", "alias", "dir"]
        extra = ""
        if self.dynamic == "cgid":
            mods.append("cgid")
            extra = "ScriptSock %s/cgid.sock\n" % t
        elif self.dynamic in ("cgi", "php-cgi"):
            mods.append("cgi")
        if self.dynamic == "php-cgi":
            mods.append("actions")
            extra += """ScriptAlias /php-cgi-bin/ /usr/lib/cgi-bin/
<Directory /usr/lib/cgi-bin>
    Require all granted
</Directory>
AddHandler php-script .php
Action php-script /php-cgi-bin/php8.2
"""
        if self.dynamic == "mod_php":
            # An empty php.ini and no scan dir (env): no extensions, none
            # dlopen'ed with RTLD_DEEPBIND (opcache), which the sanitizer
            # runtime refuses.
            open(os.path.join(t, "php.ini"), "w").close()
            extra += """LoadModule php_module %s/libphp8.2.so
PHPINIDir %s
AddHandler application/x-httpd-php .php
""" % (APACHE_MODULES, t)
        if self.dynamic == "php-fpm":
            mods += ["proxy", "proxy_fcgi"]
            extra += """<FilesMatch "\\.php$">
    SetHandler "proxy:unix:%s|fcgi://localhost"
</FilesMatch>
""" % self.fpm_sock
        if self.mpm == "event":
            mpm = """StartServers 1
ServerLimit 1
ThreadsPerChild 4
ThreadLimit 4
MinSpareThreads 1
MaxSpareThreads 4
MaxRequestWorkers 4
"""
        else:
            mpm = """StartServers 2
MinSpareServers 1
MaxSpareServers 2
MaxRequestWorkers 4
"""
        conf = os.path.join(t, "httpd.conf")
        with open(conf, "w") as f:
            f.write("".join("LoadModule %s_module %s/mod_%s.so\n" %
                            (m, APACHE_MODULES, m) for m in mods))
            f.write("""ServerRoot %(t)s
DefaultRuntimeDir %(t)s
PidFile %(t)s/httpd.pid
Listen 127.0.0.1:%(port)d
ServerName 127.0.0.1
User www-data
Group www-data
ErrorLog %(t)s/error.log
LogLevel warn
TypesConfig /etc/mime.types
DocumentRoot %(root)s
<Directory %(root)s>
    Require all granted
</Directory>
ScriptAlias /cgi-bin/ %(root)s/cgi-bin/
FileETag None
KeepAlive On
%(mpm)s%(extra)s""" % {"t": t, "port": self.port, "root": self.docroot,
                       "mpm": mpm, "extra": extra})
        return ["apache2", "-f", conf, "-DFOREGROUND"]

    def env(self):
        env = super().env()
        env["PHP_INI_SCAN_DIR"] = ""
        return env

    def log_paths(self):
        return super().log_paths() + [os.path.join(self.tmp, "error.log")]


class MiniHttpdServer(servers.Server):
    """mini_httpd -D: a process per connection; a CGI's response is
    written by a child of that process (status line, then the CGI's
    output from a pipe) while the process execs the CGI."""

    name = "mini_httpd"
    binary = "mini_httpd"
    keepalive = False

    def command(self):
        return ["mini_httpd", "-D", "-h", "127.0.0.1", "-p", str(self.port),
                "-d", self.docroot, "-c", "cgi-bin/*", "-u", "root",
                "-l", os.path.join(self.tmp, "access.log")]


class CivetwebServer(servers.Server):
    """civetweb: threads; a CGI's output is sent with sendfile from the
    pipe, which fails (ESPIPE), then read + send."""

    name = "civetweb"
    binary = "civetweb"

    def command(self):
        return ["civetweb", "-listening_ports", "127.0.0.1:%d" % self.port,
                "-document_root", self.docroot, "-cgi_pattern", "**.sh$",
                "-enable_keep_alive", "yes", "-num_threads", "4",
                "-error_log_file", os.path.join(self.tmp, "error.log")]


class LighttpdCgiServer(servers.LighttpdServer):
    """lighttpd -D with mod_cgi for /cgi-bin/ and static ETags off."""

    name = "lighttpd-cgi"
    binary = "lighttpd"

    def __init__(self, docroot, **kw):
        super().__init__(docroot, etags=False, extra_conf="""\
server.modules += ("mod_cgi")
$HTTP["url"] =~ "^/cgi-bin/" { cgi.assign = ("" => "") }
""", **kw)


class NginxFastcgiServer(HelperMixin, servers.NginxServer):
    """nginx without validators, /cgi-bin/ through fcgiwrap or /php/
    through php-fpm (unix sockets)."""

    binary = "nginx"

    def __init__(self, docroot, dynamic="fcgiwrap", **kw):
        self.dynamic = dynamic
        super().__init__(docroot, validators="off", **kw)
        self.name = "nginx-" + dynamic
        sock = os.path.join(self.tmp, dynamic + ".sock")
        self.sock = sock
        loc = "/cgi-bin/" if dynamic == "fcgiwrap" else "~ \\.php$"
        self.extra_server = """location %s {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME $document_root$fastcgi_script_name;
            fastcgi_pass unix:%s;
        }""" % (loc, sock)

    def helpers(self):
        if self.dynamic == "fcgiwrap":
            return [["fcgiwrap", "-c", "2", "-s", "unix:" + self.sock]]
        cmd, self.sock = php_fpm_helper(self.tmp)
        return [cmd]

    def helper_sockets(self):
        return [self.sock]


class WebfsServer(servers.Server):
    """webfsd -F: static files (sendfile), CGIs under -x."""

    name = "webfs"
    binary = "webfsd"

    def command(self):
        return ["webfsd", "-F", "-4", "-i", "127.0.0.1", "-p", str(self.port),
                "-r", self.docroot, "-x", "/cgi-bin/", "-n", "127.0.0.1"]


class BusyboxCgiServer(servers.BusyboxServer):
    binary = "busybox"


class PythonCgiServer(servers.PythonServer):
    binary = "python3"

    def __init__(self, docroot, **kw):
        super().__init__(docroot, cgi=True, **kw)


class PhpBuiltinServer(servers.Server):
    """php -S: PHP's built-in server, one process."""

    name = "php-S"
    binary = "php"

    def command(self):
        return ["php", "-n", "-S", "127.0.0.1:%d" % self.port, "-t",
                self.docroot]


APPS_DIR = os.path.join(HERE, "apps")


class H2oServer(servers.Server):
    """h2o with file.etag off; CGIs through its fastcgi-cgi wrapper
    (spawned by h2o, FastCGI on a pipe)."""

    name = "h2o"
    binary = "h2o"

    def __init__(self, docroot, **kw):
        super().__init__(docroot, **kw)
        os.chmod(self.tmp, 0o755)

    def command(self):
        conf = os.path.join(self.tmp, "h2o.conf")
        with open(conf, "w") as f:
            f.write("""user: www-data
error-log: %(t)s/error.log
listen:
  host: 127.0.0.1
  port: %(port)d
num-threads: 2
hosts:
  default:
    paths:
      /cgi-bin:
        file.dir: %(root)s/cgi-bin
        file.custom-handler:
          extension: .sh
          fastcgi.spawn: "exec /usr/share/h2o/fastcgi-cgi"
      /:
        file.dir: %(root)s
        file.etag: OFF
""" % {"t": self.tmp, "port": self.port, "root": self.docroot})
        return ["h2o", "-c", conf]

    def log_paths(self):
        return super().log_paths() + [os.path.join(self.tmp, "error.log")]


class NodeServer(servers.Server):
    """node's http module (apps/node_server.js)."""

    name = "node"
    binary = "node"

    def command(self):
        return ["node", os.path.join(APPS_DIR, "node_server.js"),
                str(self.port), self.docroot]


class WebrickServer(servers.Server):
    """ruby WEBrick (apps/webrick_server.rb)."""

    name = "webrick"
    binary = "ruby"

    def command(self):
        return ["ruby", os.path.join(APPS_DIR, "webrick_server.rb"),
                str(self.port), self.docroot]


class HttpDaemonServer(servers.Server):
    """perl HTTP::Daemon (apps/http_daemon.pl)."""

    name = "http-daemon"
    binary = "perl"

    def command(self):
        return ["perl", os.path.join(APPS_DIR, "http_daemon.pl"),
                str(self.port), self.docroot]


class WsgiServer(servers.Server):
    """apps/wsgi_app.py under gunicorn (two sync workers, forked) or
    uwsgi (--http-socket: the workers speak HTTP themselves)."""

    binary = "python3"

    def __init__(self, docroot, runner="gunicorn", **kw):
        self.runner = runner
        self.name = runner
        super().__init__(docroot, **kw)

    def env(self):
        env = super().env()
        env["DOCROOT"] = self.docroot
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        return env

    def command(self):
        if self.runner == "gunicorn":
            return ["gunicorn", "--chdir", APPS_DIR, "-w", "2",
                    "-b", "127.0.0.1:%d" % self.port, "wsgi_app:application"]
        return ["uwsgi", "--plugin", "python3", "--http-socket",
                "127.0.0.1:%d" % self.port, "--wsgi-file",
                os.path.join(APPS_DIR, "wsgi_app.py"), "--processes", "2",
                "--master", "--die-on-term", "--disable-logging"]


TOMCAT_HOME = "/usr/share/tomcat10"


class TomcatServer(servers.Server):
    """Tomcat 10 (Debian's tomcat10) in one JVM in the foreground, with a
    CATALINA_BASE of its own in the temp dir: the docroot as the ROOT
    context, static files through the DefaultServlet (its weak ETag cannot
    be switched off), JSPs (apps/jsp) compiled by Jasper with Debian's ecj.
    start() compiles the JSPs once, so that no test request waits for
    it."""

    name = "tomcat10"
    binary = "java"
    start_timeout = 60.0
    stop_timeout = 10.0

    def command(self):
        t = self.tmp
        for sub in ("conf", "lib", "logs", "work", "temp", "webapps"):
            os.makedirs(os.path.join(t, sub), exist_ok=True)
        shutil.copy("/etc/tomcat10/web.xml", os.path.join(t, "conf"))
        ecj = os.path.join(t, "lib", "ecj.jar")
        if not os.path.exists(ecj):
            os.symlink("/usr/share/java/ecj.jar", ecj)
        with open(os.path.join(t, "conf", "server.xml"), "w") as f:
            f.write("""<?xml version="1.0" encoding="UTF-8"?>
<Server port="-1" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="%(port)d" address="127.0.0.1" protocol="HTTP/1.1"
               connectionTimeout="20000"/>
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="false"
            autoDeploy="false">
        <Context path="" docBase="%(root)s" reloadable="false"/>
      </Host>
    </Engine>
  </Service>
</Server>
""" % {"port": self.port, "root": self.docroot})
        cp = ":".join(os.path.join(TOMCAT_HOME, "bin", j) for j in
                      ("bootstrap.jar", "tomcat-juli.jar"))
        return ["java", "-Xshare:auto", "-XX:TieredStopAtLevel=1",
                "-Dcatalina.home=" + TOMCAT_HOME, "-Dcatalina.base=" + t,
                "-Djava.io.tmpdir=" + os.path.join(t, "temp"), "-cp", cp,
                "org.apache.catalina.startup.Bootstrap", "start"]

    def start(self, attempts=3):
        super().start(attempts)
        import wire  # the suite's client, here only to compile the JSPs
        for page in ("/jsp/stream.jsp", "/jsp/file.jsp"):
            wire.exchange(self.port, [wire.Request(
                "GET", page, "HTTP/1.1", [("Connection", "close")])],
                timeout=60)
        return self

    def log_paths(self):
        logs = os.path.join(self.tmp, "logs")
        return super().log_paths() + [os.path.join(logs, n) for n in
                                      sorted(os.listdir(logs))
                                      if os.path.isdir(logs)]