# common.sh — shared by the pre and post hooks: where the credentials and the
# scope live, and reading the scope file.  Sourced, not run.
#
#   CLOUDFS_BACKUP_DIR    default ~/.config/cloudfs-backup, holding:
#     env                 RESTIC_REPOSITORY=… and RESTIC_PASSWORD_FILE=… (from
#                         the `ok password=… repository=…` of /repos/ctl add)
#     password            the password, alone on one line (mode 0600)
#     scope               what to keep, one entry per line:
#                           include PATH      a file or directory (relative to $HOME
#                                             or absolute)
#                           exclude PATTERN   anything restic --exclude takes
#                         blank lines and lines starting with # are ignored
#   CLOUDFS_BACKUP_TAG    the tag of the launcher's snapshots (cloudfs-launcher)

dir=${CLOUDFS_BACKUP_DIR:-$HOME/.config/cloudfs-backup}
tag=${CLOUDFS_BACKUP_TAG:-cloudfs-launcher}

die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

[ -r "$dir/env" ] || die "no $dir/env (RESTIC_REPOSITORY and RESTIC_PASSWORD_FILE)"
# only the two variables are taken from the file, never run as a script
RESTIC_REPOSITORY=$(sed -n 's/^RESTIC_REPOSITORY=//p' "$dir/env" | tail -n 1)
RESTIC_PASSWORD_FILE=$(sed -n 's/^RESTIC_PASSWORD_FILE=//p' "$dir/env" | tail -n 1)
: "${RESTIC_PASSWORD_FILE:=$dir/password}"
[ -n "$RESTIC_REPOSITORY" ] || die "RESTIC_REPOSITORY is not set in $dir/env"
[ -r "$RESTIC_PASSWORD_FILE" ] || die "cannot read the password file $RESTIC_PASSWORD_FILE"
export RESTIC_REPOSITORY RESTIC_PASSWORD_FILE
[ -r "$dir/scope" ] || die "no scope file $dir/scope"

work=$(mktemp -d "${TMPDIR:-/tmp}/cloudfs-backup.XXXXXX")
trap 'rm -rf "$work"' EXIT

# scope → $work/include (absolute paths) and $work/exclude (patterns)
: >"$work/include"
: >"$work/exclude"
while IFS= read -r line || [ -n "$line" ]; do
	case $line in
	'' | '#'*) continue ;;
	include\ *)
		p=${line#include }
		case $p in /*) ;; *) p=$HOME/$p ;; esac
		printf '%s\n' "$p" >>"$work/include"
		;;
	exclude\ *) printf '%s\n' "${line#exclude }" >>"$work/exclude" ;;
	*) die "scope: cannot read the line: $line" ;;
	esac
done <"$dir/scope"
[ -s "$work/include" ] || die "the scope includes nothing"
