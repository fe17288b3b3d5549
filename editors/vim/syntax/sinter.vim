" editors/vim/syntax/sinter.vim — syntax highlighting for sinter programs
" (.sn files; docs/LANGUAGE.md §3 is the lexical structure it follows).
" Install: see editors/README.md.  tests/e2e/editors.sh checks that every
" reserved word of lang/lexer.l is listed here and how vim colours a
" sample program.

if exists("b:current_syntax")
  finish
endif

" Reserved words, grouped as vim's standard highlight groups expect them.
syn keyword sinterInclude     import
syn keyword sinterStructure   model optimizer
syn keyword sinterDefine      fn const let train
syn keyword sinterRepeat      for while in
syn keyword sinterConditional if else
syn keyword sinterStatement   return break continue
syn keyword sinterOperatorKw  and or not
syn keyword sinterBoolean     true false
syn keyword sinterConstant    none
" Words that are keywords only where a model or optimizer item starts.
syn match   sinterItem        "^\s*\<\(param\|buffer\|state\)\>"
syn match   sinterItem        "^\s*\<update\>\ze\s*("

" Element types, alone (f32) or with dimensions (f32[B, 784]).
syn match   sinterType        "\<\(f32\|bf16\|i32\|bool\)\>"

" Numbers: 128, 0.5, 3., 1e-3, 2.5E+2; in 0..L the digits are an int.
syn match   sinterNumber      "\<\d\+\>"
syn match   sinterFloat       "\<\d\+\.\d*\([eE][-+]\=\d\+\)\=\ze\([^.]\|$\)"
syn match   sinterFloat       "\<\d\+[eE][-+]\=\d\+\>"

" Strings end on their line; the only escapes are \\ \" \n.
syn match   sinterEscape      contained "\\[\\\"n]"
syn match   sinterBadEscape   contained "\\[^\\\"n]"
syn region  sinterString      start=+"+ skip=+\\\\\|\\"+ end=+"+ oneline contains=sinterEscape,sinterBadEscape

syn match   sinterComment     "#.*$" contains=sinterTodo,@Spell
syn keyword sinterTodo        contained TODO FIXME XXX NOTE

" The name after fn / model / optimizer.
syn match   sinterFuncName    "\(\<\(fn\|model\|optimizer\)\s\+\)\@<=\h\w*"

syn match   sinterOperator    "\*\*\|//\|==\|!=\|<=\|>=\|\.\.\|->\|[-+*/%@<>=]"

hi def link sinterInclude     Include
hi def link sinterStructure   Structure
hi def link sinterDefine      Keyword
hi def link sinterRepeat      Repeat
hi def link sinterConditional Conditional
hi def link sinterStatement   Statement
hi def link sinterOperatorKw  Operator
hi def link sinterBoolean     Boolean
hi def link sinterConstant    Constant
hi def link sinterItem        Keyword
hi def link sinterType        Type
hi def link sinterNumber      Number
hi def link sinterFloat       Float
hi def link sinterString      String
hi def link sinterEscape      SpecialChar
hi def link sinterBadEscape   Error
hi def link sinterComment     Comment
hi def link sinterTodo        Todo
hi def link sinterFuncName    Function
hi def link sinterOperator    Operator

let b:current_syntax = "sinter"
