import ArcaInit

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

exit(InitMain.run(arguments: InitMain.commandLineArguments()))
