# Sourced by docker/balancer/balancer-start, which stays bash (the balancer image has no Python):
# the rules of its settings that are the server's too. The server's start checks the same settings
# in Python (app/launch/checks.py) and takes the CORS origins with the application's own rule
# (app/origins.py, parse_origins); tests/launch/test_shell_rules.py runs both on the same values,
# so the two cannot drift apart.
# The characters are listed rather than given as ranges, which some locales stretch beyond ASCII.

# die MESSAGE: stop the start with MESSAGE, after the script's name, and status 2.
die() { echo "${0##*/}: $*" >&2; exit 2; }

# int NAME DEFAULT MIN [MAX]: read MODELHOST_<NAME> as a whole number within bounds.
int() {
    local name=$1 default=$2 min=$3 max=${4:-} var="MODELHOST_$1" value
    value=${!var:-$default}
    [[ $value =~ ^[0123456789]+$ ]] || die "$var must be a whole number, got '$value'"
    value=$((10#$value))
    ((value >= min)) || die "$var must be at least $min, got $value"
    [ -z "$max" ] || ((value <= max)) || die "$var must be at most $max, got $value"
    printf -v "$name" '%s' "$value"
}

# on_off NAME DEFAULT: read MODELHOST_<NAME> as a switch.
on_off() {
    local name=$1 var="MODELHOST_$1" value
    value=${!var:-$2}
    case ${value,,} in
        on | true | yes | 1) printf -v "$name" on ;;
        off | false | no | 0) printf -v "$name" off ;;
        *) die "$var must be 'on' or 'off', got '$value'" ;;
    esac
}

alnum=abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789
octet='(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])'
ipv4_re="^($octet\\.){3}$octet\$"
# RFC 1123 labels; a name of digits and dots only would be an IPv4 address, or a wrong one.
hostname_re="^[$alnum]([$alnum-]{0,61}[$alnum])?(\\.[$alnum]([$alnum-]{0,61}[$alnum])?)*\$"

# shown VALUE: VALUE for a message, in single quotes; one holding control characters (a
# newline) as bash writes it ($'...'), so the message stays one line and shows what is there.
shown() {
    if [[ $1 == *[[:cntrl:]]* ]]; then printf '%q' "$1"; else printf "'%s'" "$1"; fi
}

# is_ipv6 TEXT: whether TEXT is an IPv6 address (no brackets; it may end in an IPv4 address).
is_ipv6() {
    local text=$1 group='[0123456789abcdefABCDEF]{1,4}' groups part count=0 colons
    [[ $text == *:* ]] || return 1
    if [[ $text == *.* ]]; then # the IPv4 address at the end stands for two groups
        [[ ${text##*:} =~ $ipv4_re ]] || return 1
        text=${text%:*}:0:0
    fi
    if [[ $text != *::* ]]; then
        [[ $text =~ ^$group(:$group){7}$ ]]
        return
    fi
    # One "::", which stands for one group or more: at most seven around it.
    groups="^($group(:$group)*)?\$"
    for part in "${text%%::*}" "${text#*::}"; do
        [[ $part =~ $groups ]] || return 1
        [ -z "$part" ] || { colons=${part//[^:]/}; count=$((count + ${#colons} + 1)); }
    done
    ((count <= 7))
}

# is_hostname TEXT: whether TEXT is a host name (RFC 1123), not digits and dots only.
is_hostname() {
    ((${#1} <= 253)) && [[ $1 =~ $hostname_re && ! $1 =~ ^[0123456789.]+$ ]]
}

# check_account VAR KIND: the value of VAR names an existing account (KIND passwd) or group
# (KIND group): a name, not a number, which Apache would look up as a name.
check_account() {
    local value=${!1} what="an account"
    [ "$2" = passwd ] || what="a group"
    [[ $value =~ ^[${alnum}_][${alnum}_.-]*$ && ! $value =~ ^[0123456789]+$ ]] ||
        die "$1 must be the name of $what (letters, digits, _ . -; not a number), got $(shown "$value"); set it to one that getent $2 lists, such as www-data"
    getent "$2" "$value" >/dev/null ||
        die "$1: there is no ${what#* } '$value' on this system (getent $2 $value finds none); set it to one that getent $2 lists, such as www-data"
}

# read_cors_origins: read MODELHOST_CORS_ORIGINS by the application's rule and set
#   cors_origins                     the allowed origins in lower case (array; "*" alone for every origin);
#   MODELHOST_CORS_ORIGIN_PATTERN    the same as one regular expression that Apache matches the
#                                    request's Origin against (shared.conf), (?!) for none.
# A value the application would refuse (and answer every request with 500 for) stops the start.
# Items are trimmed of white space and of the separators \x1c-\x1f, as Python's str.strip() trims
# them; in the C locale, one that ends in a space beyond ASCII (U+3000, ...) is refused here where
# the application would trim it.
read_cors_origins() {
    local label='[abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-]+' space=$'[:space:]\x1c\x1d\x1e\x1f'
    local re="^([hH][tT][tT][pP][sS]?)://($label(\\.$label)*|\\[[0123456789abcdefABCDEF:.]+\\])(:([123456789][0123456789]{0,4}))?\$"
    local items item origin scheme port escaped alternatives=()
    IFS=, read -r -d '' -a items <<<"${MODELHOST_CORS_ORIGINS:-}" || true
    cors_origins=()
    for item in "${items[@]}"; do
        item=${item#"${item%%[!$space]*}"}
        item=${item%"${item##*[!$space]}"}
        [ -n "$item" ] || continue
        if [ "$item" = "*" ]; then
            cors_origins+=("*")
            alternatives+=(".+")
            continue
        fi
        # Matched before it is lowered, so a letter some locale lowers into ASCII is not taken.
        [[ $item =~ $re ]] ||
            die "MODELHOST_CORS_ORIGINS: '$item' is not an origin: write scheme://host[:port] with http or https, no path and no trailing slash, such as https://dash.example.com or http://localhost:3000 (comma-separated)"
        scheme=${BASH_REMATCH[1],,} port=${BASH_REMATCH[5]}
        if [ -n "$port" ]; then
            ((port <= 65535)) || die "MODELHOST_CORS_ORIGINS: '$item' has a port above 65535"
            [ "$scheme:$port" != http:80 ] && [ "$scheme:$port" != https:443 ] ||
                die "MODELHOST_CORS_ORIGINS: '$item' names the default port, which browsers leave out of the origin they send; remove it"
        fi
        origin=${item,,}
        cors_origins+=("$origin")
        # The origin as literal text in a regular expression: the brackets of an IPv6 address and '.'
        # are its only special characters here (the pattern above allows no others). The brackets
        # first, then each '.' as the class [.], so the brackets of the class stay special.
        escaped=${origin//\[/\\[}
        escaped=${escaped//\]/\\]}
        alternatives+=("${escaped//./[.]}")
    done
    if ((${#cors_origins[@]} > 1)) && [[ " ${cors_origins[*]} " == *" * "* ]]; then
        die "MODELHOST_CORS_ORIGINS: '*' allows every origin, so it stands alone; give either '*' or the list of origins"
    fi
    if ((${#alternatives[@]})); then
        MODELHOST_CORS_ORIGIN_PATTERN=$(IFS='|'; echo "${alternatives[*]}")
    else
        # No origins: a pattern that matches nothing, so Apache adds no CORS headers either.
        MODELHOST_CORS_ORIGIN_PATTERN='(?!)'
    fi
}
