fn app() -> fastkafka::FastKafka {
    fastkafka::FastKafka::builder().title("my app").build()
}

fastkafka::main!(app());
