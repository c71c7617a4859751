# Sourced by docker/modelhost-start and docker/balancer/balancer-start (bash): reads
# MODELHOST_CORS_ORIGINS and sets
#   cors_origins                     the allowed origins (array; "*" alone for every origin);
#   MODELHOST_CORS_ORIGIN_PATTERN    the same as one regular expression that Apache matches the
#                                    request's Origin against (shared.conf), (?!) for none.
# Needs die() from the sourcing script.
# Same rules as app/config.py, so a value the application would refuse (and answer every
# request with 500 for) stops the start here.
# The characters are listed rather than given as ranges, which some locales stretch beyond ASCII.
cors_label='[abcdefghijklmnopqrstuvwxyz0123456789_-]+'
cors_origin_re="^(https?)://($cors_label(\\.$cors_label)*|\\[[0123456789abcdef:.]+\\])(:([123456789][0123456789]{0,4}))?\$"
IFS=, read -r -d '' -a cors_items <<<"${MODELHOST_CORS_ORIGINS:-}" || true
cors_origins=()
cors_alternatives=()
for item in "${cors_items[@]}"; do
    item=${item#"${item%%[![:space:]]*}"}
    item=${item%"${item##*[![:space:]]}"}
    [ -n "$item" ] || continue
    origin=${item,,}
    if [ "$origin" = "*" ]; then
        cors_origins+=("*")
        cors_alternatives+=(".+")
        continue
    fi
    [[ $origin =~ $cors_origin_re ]] ||
        die "MODELHOST_CORS_ORIGINS: '$item' is not an origin: write scheme://host[:port] with http or https, no path and no trailing slash, such as https://dash.example.com or http://localhost:3000 (comma-separated)"
    port=${BASH_REMATCH[5]}
    if [ -n "$port" ]; then
        ((port <= 65535)) || die "MODELHOST_CORS_ORIGINS: '$item' has a port above 65535"
        [ "${BASH_REMATCH[1]}:$port" != http:80 ] && [ "${BASH_REMATCH[1]}:$port" != https:443 ] ||
            die "MODELHOST_CORS_ORIGINS: '$item' names the default port, which browsers leave out of the origin they send; remove it"
    fi
    cors_origins+=("$origin")
    # The origin as literal text in a regular expression: the brackets of an IPv6 address and '.'
    # are its only special characters here (the pattern above allows no others). The brackets
    # first, then each '.' as the class [.], so the brackets of the class stay special.
    escaped=${origin//\[/\\[}
    escaped=${escaped//\]/\\]}
    cors_alternatives+=("${escaped//./[.]}")
done
if ((${#cors_origins[@]} > 1)) && [[ " ${cors_origins[*]} " == *" * "* ]]; then
    die "MODELHOST_CORS_ORIGINS: '*' allows every origin, so it stands alone; give either '*' or the list of origins"
fi
if ((${#cors_alternatives[@]})); then
    MODELHOST_CORS_ORIGIN_PATTERN=$(IFS='|'; echo "${cors_alternatives[*]}")
else
    # No origins: a pattern that matches nothing, so Apache adds no CORS headers either.
    MODELHOST_CORS_ORIGIN_PATTERN='(?!)'
fi

