# lit.cfg.py — configuration of sinter's golden tests: IR text (.ir) run
# through `sinter opt`, model files (.sn) run through the driver and other
# commands' tests (.test: the assembly of `sinter gemm`), their output
# matched by FileCheck.  Run: python3 lit.py -v tests/lit
import os
import lit.formats

config.name = 'sinter'
config.test_format = lit.formats.ShTest(True)
config.suffixes = ['.ir', '.sn', '.test']
config.test_source_root = os.path.dirname(os.path.abspath(__file__))
repo = os.path.dirname(os.path.dirname(config.test_source_root))
# scratch files go under build/, never beside the tests
config.test_exec_root = os.path.join(repo, 'build', 'lit')
# SINTER in the environment points the tests at another build of the driver.
sinter = os.environ.get('SINTER', os.path.join(repo, 'sinter'))
llvm_bin = '/usr/lib/llvm-19/bin'

# Substitutions are regular expressions, applied before lit's own (%s, ...),
# so %sinter is replaced before %s could take its first two characters; the
# tool names are replaced only as whole words, never inside paths or names.
config.substitutions.append(('%sinter', sinter))
config.substitutions.append((r'(?<![\w/.-])FileCheck(?![\w/.-])', os.path.join(llvm_bin, 'FileCheck')))
config.substitutions.append((r'(?<![\w/.-])not(?![\w/.-])', os.path.join(llvm_bin, 'not')))
