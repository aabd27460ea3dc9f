# bash completion for pcipassctl(1)                                      -*- shell-script -*-
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Verbs, options and their values, files; PCI addresses, pool names, lease ids and owners are
# asked of pcipassd (at the --socket of the command line, else $PCIPASS_SOCKET or the default),
# quietly: nothing is offered when it does not answer.
# shellcheck disable=SC2207 # COMPREPLY=($(compgen …)): the candidates have no blanks

# __pcipassctl_add KEY VERB: adds to COMPREPLY each value of "KEY":"…" in `pcipassctl -j VERB`
# that begins with $cur; $ctl and $socket are _pcipassctl's. The output is compact JSON: one
# grep, no jq. A lease's owner is any text its client chose: the values are never expanded
# (compgen -W would) and go on the command line quoted as the shell reads them back (%q), so
# that "vm1$(…)" stays text when Enter is pressed.
__pcipassctl_add()
{
    local -a t=()
    local v q
    type -P timeout >/dev/null && t=(timeout 5)
    while IFS= read -r v; do
        printf -v q %q "$v"
        [[ $v == "$cur"* ]] && COMPREPLY+=("$q")
    done < <("${t[@]}" "$ctl" ${socket:+"--socket=$socket"} -j "$2" </dev/null 2>/dev/null |
        grep -o "\"$1\":\"[^\"]*\"" | cut -d'"' -f4 | sort -u)
}

__pcipassctl_files()
{
    if declare -F _filedir >/dev/null; then
        _filedir
    else
        compopt -o filenames 2>/dev/null
        mapfile -t -O "${#COMPREPLY[@]}" COMPREPLY < <(compgen -f -- "$cur")
    fi
}

_pcipassctl()
{
    local cur prev words cword split
    COMPREPLY=()
    if declare -F _init_completion >/dev/null; then
        _init_completion -s -n : || return
    else
        # Without bash-completion: the words up to the cursor, as typed (: and = join).
        local line=${COMP_LINE:0:COMP_POINT}
        read -ra words <<<"$line"
        [[ -z $line || $line == *[[:space:]] ]] && words+=("")
        cword=$((${#words[@]} - 1)) cur=${words[cword]} prev=${words[cword - 1]} split=false
        ((cword > 0)) || return
        [[ $cur == --*=* ]] && prev=${cur%%=*} cur=${cur#*=} split=true
    fi

    local verbs='list show groups tree status monitor plan policy reload claim release apply
        lease unlease leases qemu metrics rom'
    local ctl=${words[0]/#\~/$HOME} socket='' verb='' check='' owner='' i w
    local -a args=()
    # The verb is the first word that is neither an option nor an option's value.
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        case $w in
            --socket=*) socket=${w#*=} ;;
            --socket) socket=${words[++i]} ;;
            --owner=*) owner=1 ;;
            --owner) owner=1 i=$((i + 1)) ;;
            --driver | --user | --pid | --numa | --count | --format | --output | -o | -[!-]*o) ((i++)) ;;
            --check) check=1 ;;
            -*) ;;
            *) if [[ $verb ]]; then args+=("$w"); else verb=$w; fi ;;
        esac
    done
    socket=${socket/#\~/$HOME}

    case $prev in
        --driver)
            COMPREPLY=($(compgen -W 'vfio-pci uio_pci_generic igb_uio' -- "$cur"))
            return ;;
        --format)
            COMPREPLY=($(compgen -W 'qemu libvirt proxmox' -- "$cur"))
            return ;;
        --owner)
            __pcipassctl_add owner leases
            return ;;
        --user)
            if [[ $cur == *:* ]]; then
                COMPREPLY=($(compgen -P "${cur%%:*}:" -g -- "${cur#*:}"))
                __pcipassctl_ltrim_colon
            else
                COMPREPLY=($(compgen -u -- "$cur"))
            fi
            return ;;
        --pid)
            local -a p=(/proc/[0-9]*)
            COMPREPLY=($(compgen -W "${p[*]#/proc/}" -- "$cur"))
            return ;;
        --numa)
            COMPREPLY=($(compgen -W "$(command ls /sys/devices/system/node 2>/dev/null |
                sed -n 's/^node\([0-9]*\)$/\1/p')" -- "$cur"))
            return ;;
        --count)
            return ;;
        --socket | --output | -o | -[!-]*o)
            __pcipassctl_files
            return ;;
    esac
    $split && return

    if [[ $cur == -* ]]; then
        local o='-j --json -p --pretty -n --no-legend --socket= -h --help --version'
        # metrics prints the Prometheus text format: no JSON, no table.
        [[ $verb == metrics ]] && o='--socket= -h --help --version'
        case $verb in
            claim) o+=' --driver= --group --force --dry-run' ;;
            release) o+=' --dry-run' ;;
            lease) o+=' --owner= --user= --pid= --numa= --count= --iommufd --format=' ;;
            unlease) o+=' --owner=' ;;
            qemu) o+=' --iommufd --format=' ;;
            rom) o+=' --force --check -o --output=' ;;
            monitor) o+=' --initial' ;;
            metrics) o+=' -o --output=' ;;
            '') o+=' --driver= --group --force --dry-run --owner= --user= --pid= --numa= --count=
                --iommufd --format= --check -o --output= --initial' ;;
        esac
        COMPREPLY=($(compgen -W "$o" -- "$cur"))
        [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *= ]] && compopt -o nospace 2>/dev/null
        return
    fi

    local n=${#args[@]} addresses=
    case $verb in
        '')
            COMPREPLY=($(compgen -W "$verbs" -- "$cur")) ;;
        show | release | plan)
            ((n == 0)) && addresses=1 ;;
        claim | qemu)
            addresses=1 ;;
        lease)
            if ((n == 0)); then
                __pcipassctl_add pool plan
                addresses=1
            elif [[ ${args[0]} == *:* ]]; then
                addresses=1
            fi ;;
        unlease)
            ((n == 0)) && [[ ! $owner ]] && __pcipassctl_add id leases ;;
        policy)
            if ((n == 0)); then
                COMPREPLY=($(compgen -W 'check' -- "$cur"))
            else
                __pcipassctl_files
            fi ;;
        rom)
            if [[ $check || ${args[0]-} == check ]]; then
                __pcipassctl_files
            elif ((n == 0)); then
                COMPREPLY=($(compgen -W 'check' -- "$cur"))
                addresses=1
            fi ;;
    esac
    if [[ $addresses ]]; then
        __pcipassctl_add address list
        __pcipassctl_ltrim_colon
    fi
}

# As bash-completion's __ltrim_colon_completions: bash replaces only what follows the last
# colon of the word (a COMP_WORDBREAKS character), so the candidates must not repeat the rest.
__pcipassctl_ltrim_colon()
{
    if [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]]; then
        local colon_word=${cur%"${cur##*:}"} i=${#COMPREPLY[@]}
        while ((i-- > 0)); do
            COMPREPLY[i]=${COMPREPLY[i]#"$colon_word"}
        done
    fi
}

complete -F _pcipassctl pcipassctl
