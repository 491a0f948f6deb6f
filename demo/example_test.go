package demo_test

import (
	"fmt"
	"os"

	"github.com/cdp-project/cdp/demo"
)

// Three synthetic persons, as four departments hold them. Records of one
// person share an entity_id; their source_ids do not reveal it.
func ExampleGenerate() {
	st, err := demo.Generate(os.Stdout, demo.Options{People: 3, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.People, "people,", st.Records, "records")
	// Output:
	// source,source_id,given_name,family_name,full_name,birth_date,gender,email,phone,street,address_line2,postcode,city,region,country,national_id,customer_since,entity_id
	// marketing,40280f6a57df,Wilhelmina,van Beek,,1986-11-29,,wvanbeek4534@example.com,,,,,,,NL,,,P0000002
	// billing,ACC-5506215743,WILHELMINA,VAN BEEK,,19861129,f,wvanbeek4534@example.com,+31638382903,ROZENSTR. 48,,6224 RB,MAASTRICHT,Limburg,NL,123225358,2024-07-08,P0000002
	// sales,S-B4GLJJNT,Sara,Carter,,09/09/1966,f,s.carter66pi@mail.example.net,+1 619-804-2248,,,,,,,,2019-10-24,P0000001
	// support,TCK-370809528,Sarah,Stevens,,,,sarah.stevens935@mail.example.org,07448 535767,,,,,,GB,,,P0000003
	// support,TCK-279248429,,,"Carter, Sara",1966-09-09,,s.carter66pi@mail.example.net,(619) 804-2248,,,92127,San Diego,CA,US,,,P0000001
	// marketing,a3afe5caec37,Sara,Carter,,,,s.carter66pi@mail.example.net,+16198042248,,,,,,US,,,P0000001
	// 3 people, 6 records
}

func ExampleHeader() {
	fmt.Println(demo.Header())
	// Output:
	// [source source_id given_name family_name full_name birth_date gender email phone street address_line2 postcode city region country national_id customer_since entity_id]
}
