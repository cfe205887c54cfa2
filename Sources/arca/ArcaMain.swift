import ArcaCommands

@main
enum ArcaMain {
    static func main() async {
        await ArcaCommand.main()
    }
}
