#!/usr/bin/env bash
# Finds (or fetches) a nats-server >= 2.10 for the Trellis test suite.
#
# Lookup order (the first one whose `--version` is >= 2.10 wins):
#   1. $TRELLIS_NATS_SERVER
#   2. <repo>/.tools/bin/nats-server
#   3. nats-server on PATH
# Otherwise, on Debian/Ubuntu, Debian's `nats-server` package is fetched from the
# `trixie` suite with a private apt configuration under <repo>/.tools/apt/ (the
# system's apt sources, lists and dpkg database are never touched, nothing is
# installed system-wide) and its binary is copied to <repo>/.tools/bin/nats-server.
#
# Trust path: the private sources list pins `signed-by=` to the system keyring
# /usr/share/keyrings/debian-archive-keyring.gpg (override with
# $TRELLIS_DEBIAN_KEYRING), which dpkg installed from the host's own signed
# archive. apt verifies trixie's InRelease against that keyring (apt-get update
# fails hard, exit 100, when it does not verify), the Packages index against the
# hashes in InRelease, and the .deb against the SHA256 in Packages. We never use
# [trusted=yes]. As a visible double check the script also runs gpgv on the
# InRelease file and compares the .deb's SHA256 with the index itself.
# Bookworm's keyring already carries trixie's keys (debian-archive-keyring
# 2023.3+deb12u1 and later), and trixie's InRelease is additionally signed with
# the bookworm automatic signing key, so even an older bookworm keyring verifies it.
#
# Progress goes to stderr; the final line of stdout is the absolute path of the
# selected binary, so callers can do: NATS=$(bash tools/install-nats-server.sh | tail -n 1)
set -euo pipefail

MIN_MAJOR=2
MIN_MINOR=10
DEBIAN_SUITE="trixie"
DEBIAN_MIRROR="${TRELLIS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_KEYRING="${TRELLIS_DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}"

SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd -- "$SCRIPT_DIR/.." && pwd -P)"
TOOLS_DIR="$REPO_ROOT/.tools"
BIN_DIR="$TOOLS_DIR/bin"
LOCAL_BIN="$BIN_DIR/nats-server"
APT_DIR="$TOOLS_DIR/apt"

log() { printf 'install-nats-server: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# Prints "MAJOR.MINOR.PATCH" of the given nats-server binary, or fails.
nats_version() {
  local bin="$1" out
  [[ -f "$bin" && -x "$bin" ]] || return 1
  if command -v timeout >/dev/null 2>&1; then
    out="$(timeout 10 "$bin" --version 2>&1)" || return 1
  else
    out="$("$bin" --version 2>&1)" || return 1
  fi
  # e.g. "nats-server: v2.10.26"
  [[ "$out" =~ v?([0-9]+)\.([0-9]+)\.([0-9]+) ]] || return 1
  printf '%s.%s.%s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}"
}

# Succeeds when the binary runs and reports a version >= MIN_MAJOR.MIN_MINOR.
version_ok() {
  local v major minor
  v="$(nats_version "$1")" || return 1
  major="${v%%.*}"
  minor="${v#*.}"
  minor="${minor%%.*}"
  ((major > MIN_MAJOR || (major == MIN_MAJOR && minor >= MIN_MINOR)))
}

abs_path() {
  case "$1" in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s/%s\n' "$PWD" "$1" ;;
  esac
}

# Checks one candidate; on success prints its absolute path as the final stdout line and exits.
try_candidate() {
  local label="$1" bin="$2" v
  if version_ok "$bin"; then
    v="$(nats_version "$bin")"
    log "using $label: $bin (v$v)"
    abs_path "$bin"
    exit 0
  fi
  if [[ -e "$bin" ]]; then
    log "skipping $label $bin: version $(nats_version "$bin" || echo unknown) < $MIN_MAJOR.$MIN_MINOR or not runnable"
  fi
  return 0
}

# --- 1-3: existing binaries ---------------------------------------------------
if [[ -n "${TRELLIS_NATS_SERVER:-}" ]]; then
  candidate="$TRELLIS_NATS_SERVER"
  if [[ "$candidate" != */* ]]; then
    candidate="$(command -v -- "$candidate" || true)"
  fi
  if [[ -n "$candidate" ]]; then
    try_candidate "\$TRELLIS_NATS_SERVER" "$candidate"
  fi
  log "\$TRELLIS_NATS_SERVER=$TRELLIS_NATS_SERVER is not a usable nats-server >= $MIN_MAJOR.$MIN_MINOR; looking elsewhere"
fi
try_candidate "repo-local binary" "$LOCAL_BIN"
if path_bin="$(command -v nats-server 2>/dev/null)"; then
  try_candidate "nats-server on PATH" "$path_bin"
fi

# --- 4: fetch Debian's package -----------------------------------------------
print_manual_install_help() {
  cat >&2 <<EOF
install-nats-server: nats-server >= $MIN_MAJOR.$MIN_MINOR is required for the Trellis tests.
Install it with one of:
  - macOS:  brew install nats-server
  - Go:     go install github.com/nats-io/nats-server/v2@latest   (then put \$(go env GOPATH)/bin on PATH)
  - any OS: a release archive from the nats-server project's GitHub releases page
Then either put it on PATH, copy it to $LOCAL_BIN,
or export TRELLIS_NATS_SERVER=/path/to/nats-server, and re-run this script.
EOF
}

os_id=""
os_like=""
if [[ -r /etc/os-release ]]; then
  # shellcheck disable=SC1091
  os_id="$(. /etc/os-release && printf '%s' "${ID:-}")"
  # shellcheck disable=SC1091
  os_like="$(. /etc/os-release && printf '%s' "${ID_LIKE:-}")"
fi
case " $os_id $os_like " in
  *" debian "* | *" ubuntu "*) ;;
  *)
    log "no nats-server >= $MIN_MAJOR.$MIN_MINOR found, and this is not Debian/Ubuntu (ID=${os_id:-unknown})."
    print_manual_install_help
    exit 1
    ;;
esac

for tool in apt-get apt-cache dpkg dpkg-deb sha256sum; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found; cannot fetch Debian's nats-server package."
done
if [[ ! -r "$DEBIAN_KEYRING" ]]; then
  log "Debian archive keyring $DEBIAN_KEYRING not found."
  log "Install it (e.g. 'sudo apt-get install debian-archive-keyring') or point TRELLIS_DEBIAN_KEYRING at it."
  print_manual_install_help
  exit 1
fi

arch="$(dpkg --print-architecture)"
mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial" "$APT_DIR/state" "$BIN_DIR"
: >"$APT_DIR/status" # empty private dpkg status: we look at no installed package
printf 'deb [arch=%s signed-by=%s] %s %s main\n' "$arch" "$DEBIAN_KEYRING" "$DEBIAN_MIRROR" "$DEBIAN_SUITE" \
  >"$APT_DIR/sources.list"

APT_OPTS=(
  -o "Dir::Etc::SourceList=$APT_DIR/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::Etc::Preferences=/dev/null"
  -o "Dir::Etc::PreferencesParts=/dev/null"
  -o "Dir::State=$APT_DIR/state"
  -o "Dir::State::Lists=$APT_DIR/lists"
  -o "Dir::State::status=$APT_DIR/status"
  -o "Dir::Cache=$APT_DIR/cache"
  -o "APT::Architecture=$arch"
  -o "APT::Architectures=$arch"
  -o "Acquire::Languages=none"
  -o "Acquire::AllowInsecureRepositories=false"
  -o "APT::Get::AllowUnauthenticated=false"
)

LOG_FILE="$APT_DIR/install.log"
: >"$LOG_FILE"
WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/trellis-nats-server.XXXXXX")"
trap 'rm -rf -- "$WORK_DIR"' EXIT

run_logged() {
  printf '\n$ %s\n' "$*" >>"$LOG_FILE"
  if ! "$@" >>"$LOG_FILE" 2>&1; then
    log "command failed: $*"
    log "---- $LOG_FILE ----"
    cat "$LOG_FILE" >&2
    log "---- end of log ----"
    return 1
  fi
}

log "no nats-server >= $MIN_MAJOR.$MIN_MINOR found; fetching Debian $DEBIAN_SUITE's nats-server ($arch)"
log "private apt state in $APT_DIR (log: $LOG_FILE)"
run_logged apt-get "${APT_OPTS[@]}" -q update ||
  die "apt-get update for $DEBIAN_SUITE failed (network, or the release signature did not verify with $DEBIAN_KEYRING; a keyring without trixie's keys can be refreshed with 'apt-get install --only-upgrade debian-archive-keyring')."

# Belt and braces: check the signature ourselves too (apt has already refused an unverifiable one).
inrelease="$(find "$APT_DIR/lists" -maxdepth 1 -name "*_dists_${DEBIAN_SUITE}_InRelease" -print -quit)"
[[ -n "$inrelease" ]] || die "no signed InRelease for $DEBIAN_SUITE in $APT_DIR/lists"
if command -v gpgv >/dev/null 2>&1; then
  run_logged gpgv --keyring "$DEBIAN_KEYRING" "$inrelease" ||
    die "the $DEBIAN_SUITE InRelease signature does not verify with $DEBIAN_KEYRING"
  log "$DEBIAN_SUITE InRelease signature verified with $DEBIAN_KEYRING"
fi

pkg_info="$(apt-cache "${APT_OPTS[@]}" show --no-all-versions nats-server 2>>"$LOG_FILE")" ||
  die "nats-server is not available in Debian $DEBIAN_SUITE for $arch (see $LOG_FILE)"
pkg_version="$(sed -n 's/^Version: //p' <<<"$pkg_info" | head -n 1)"
pkg_sha256="$(sed -n 's/^SHA256: //p' <<<"$pkg_info" | head -n 1)"
log "downloading nats-server $pkg_version"

mkdir -p "$WORK_DIR/download" "$WORK_DIR/root"
# As root, apt downloads as the unprivileged _apt user; let it write to the download dir.
if [[ "$(id -u)" == 0 ]] && id _apt >/dev/null 2>&1; then
  chmod 0711 "$WORK_DIR"
  chown _apt "$WORK_DIR/download"
fi
(cd "$WORK_DIR/download" && run_logged apt-get "${APT_OPTS[@]}" -q download nats-server) ||
  die "apt-get download nats-server failed"
deb="$(find "$WORK_DIR/download" -maxdepth 1 -name 'nats-server_*.deb' -print -quit)"
[[ -n "$deb" ]] || die "apt-get download produced no .deb"
actual_sha256="$(sha256sum "$deb" | cut -d' ' -f1)"
if [[ -n "$pkg_sha256" && "$actual_sha256" != "$pkg_sha256" ]]; then
  die "SHA256 mismatch for $(basename "$deb"): got $actual_sha256, signed index says $pkg_sha256"
fi

run_logged dpkg-deb -x "$deb" "$WORK_DIR/root" || die "could not unpack $deb"
extracted=""
for candidate in "$WORK_DIR/root/usr/sbin/nats-server" "$WORK_DIR/root/usr/bin/nats-server"; do
  if [[ -f "$candidate" ]]; then
    extracted="$candidate"
    break
  fi
done
[[ -n "$extracted" ]] || die "no nats-server binary inside $(basename "$deb")"

# Install atomically so an interrupted run never leaves a half-written binary behind.
tmp_bin="$BIN_DIR/.nats-server.tmp.$$"
cp "$extracted" "$tmp_bin"
chmod 0755 "$tmp_bin"
if ! version_ok "$tmp_bin"; then
  rm -f -- "$tmp_bin"
  die "the fetched binary does not run or is older than $MIN_MAJOR.$MIN_MINOR"
fi
mv -f -- "$tmp_bin" "$LOCAL_BIN"
log "installed nats-server v$(nats_version "$LOCAL_BIN") (Debian $pkg_version) to $LOCAL_BIN"
printf '%s\n' "$LOCAL_BIN"
