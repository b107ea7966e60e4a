# bash completion for kvsim. Commands and options come from kvsim itself
# (`kvsim --help`, `kvsim CMD --help`: the command table), so they never
# drift; installed by `make install` as PREFIX/share/bash-completion/completions/kvsim.
_kvsim()
{
    local cur prev cmd words
    cur=${COMP_WORDS[COMP_CWORD]}
    prev=${COMP_WORDS[COMP_CWORD-1]}
    if [ "$COMP_CWORD" -eq 1 ]; then
        words=$("${COMP_WORDS[0]}" --help 2>/dev/null | sed -n 's/^  kvsim \([a-z]*\).*/\1/p')
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
        return
    fi
    cmd=${COMP_WORDS[1]}
    case $prev in
        --hw) COMPREPLY=($(compgen -W "h100-sxm h200 a100-80gb rtx-4090 apple-m3-max 8xh100-sxm 8xh200 8xb200" -- "$cur") $(compgen -f -- "$cur")); return ;;
        --engine) COMPREPLY=($(compgen -W "logical vllm sglang" -- "$cur")); return ;;
        --engine-rules) COMPREPLY=($(compgen -W "newest vllm-0.20 vllm-0.19" -- "$cur")); return ;;
        --act-reserve) COMPREPLY=($(compgen -W "auto none" -- "$cur")); return ;;
        --phase) COMPREPLY=($(compgen -W "decode prefill" -- "$cur")); return ;;
        --format) COMPREPLY=($(compgen -W "table csv json" -- "$cur")); return ;;
        --by) COMPREPLY=($(compgen -W "type layer" -- "$cur")); return ;;
        --time) COMPREPLY=($(compgen -W "model roofline" -- "$cur")); return ;;
    esac
    if [ "$cmd" = help ]; then
        words=$("${COMP_WORDS[0]}" --help 2>/dev/null | sed -n 's/^  kvsim \([a-z]*\).*/\1/p')
        COMPREPLY=($(compgen -W "spec $words" -- "$cur"))
        return
    fi
    if [[ $cur == -* ]]; then
        words=$("${COMP_WORDS[0]}" "$cmd" --help 2>/dev/null | sed -n 's/^  \(-[-a-z]*\).*/\1/p')
        COMPREPLY=($(compgen -W "$words" -- "$cur"))
        return
    fi
    COMPREPLY=($(compgen -f -- "$cur"))
}
complete -o filenames -F _kvsim kvsim
