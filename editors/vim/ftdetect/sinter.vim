" editors/vim/ftdetect/sinter.vim — .sn files are sinter programs.
autocmd BufRead,BufNewFile *.sn setfiletype sinter
